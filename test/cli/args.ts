import t from 'tap'
import { formatHelp, parseArgs, type OptionSpec } from '../../src/cli/args.js'
import { UsageError } from '../../src/cli/errors.js'

const specs: OptionSpec[] = [
  { name: 'config', type: 'string', arg: 'DIR', help: 'configuration directory' },
  { name: 'jobs', alias: 'j', type: 'number', arg: 'N', help: 'parallel jobs' },
  { name: 'include', type: 'list', arg: 'GLOB', help: 'include pattern' },
  { name: 'no-cache', type: 'flag', help: 'read every file' },
  { name: 'dry-run', type: 'flag', help: 'change nothing' },
]

t.test('values of every type', async (t) => {
  const a = parseArgs(specs, ['--config', '/etc/x', '-j', '4', '--include', 'a*', '--include=b*', '--no-cache', 'pos1', '-'])
  t.equal(a.string('config'), '/etc/x')
  t.equal(a.number('jobs'), 4)
  t.same(a.list('include'), ['a*', 'b*'])
  t.equal(a.flag('no-cache'), true)
  t.equal(a.flag('dry-run'), false)
  t.same(a.positionals, ['pos1', '-'])
})

t.test('absent options', async (t) => {
  const a = parseArgs(specs, [])
  t.equal(a.string('config'), undefined)
  t.equal(a.flag('no-cache'), false)
  t.same(a.list('include'), [])
  t.equal(a.has('jobs'), false)
})

t.test('mistakes are usage errors', async (t) => {
  t.throws(() => parseArgs(specs, ['--bogus']), new UsageError('unknown option --bogus (see --help)'))
  t.throws(() => parseArgs(specs, ['--bogus=1']), /unknown option --bogus \(/)
  t.throws(() => parseArgs(specs, ['--config']), /--config needs a value \(DIR\)/)
  t.throws(() => parseArgs(specs, ['--jobs', 'many']), /"many" is not a number/)
  t.throws(() => parseArgs(specs, ['--config', 'a', '--config', 'b']), /more than once/)
})

t.test('help lists every option and the man page', async (t) => {
  const text = formatHelp('tool', '[options]', 'Does things.', specs, 'tool(1)')
  for (const s of specs) t.match(text, `--${s.name}`)
  t.match(text, '--help')
  t.match(text, /See tool\(1\)\.\n$/)
})
