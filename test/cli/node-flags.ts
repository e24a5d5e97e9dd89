import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BIN_PRELUDE, NODE_START_FLAGS } from '../../src/cli/node-flags.js'
import { ROOT } from '../helpers/bin.js'

const BIN_DIR = join(ROOT, 'bin')

t.test('every bin file starts with the prelude that gives node the package\'s flags', async (t) => {
  const bins = readdirSync(BIN_DIR).filter((name) => name.endsWith('.js'))
  t.ok(bins.length >= 8, `${bins.length} bin files`)
  for (const name of bins) {
    t.equal(readFileSync(join(BIN_DIR, name), 'utf8').split('\n').slice(0, 2).join('\n'), BIN_PRELUDE, name)
  }
  t.equal(BIN_PRELUDE, `#!/bin/sh\n// 2>/dev/null; exec node ${NODE_START_FLAGS.join(' ')} "$0" "$@"`)
})

t.test('a bin run as a program, even through a symlink, has a young generation of 16 MB at most; under plain node it grows past that', async (t) => {
  // The preload makes garbage a tenth of which survives a while, as a
  // run's records do, then notes the young generation's size, node's own
  // flags and the program's arguments; the program then prints its version.
  const dir = t.testdir({})
  const noted = join(dir, 'noted')
  const preload = join(dir, 'churn.mjs')
  writeFileSync(preload, `import { getHeapSpaceStatistics } from 'node:v8'
import { appendFileSync } from 'node:fs'
const ring = new Array(100000)
for (let i = 0; i < 3000000; i++) ring[i % ring.length] = i % 10 === 0 ? { i, s: 'x' + i } : { i }
const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
appendFileSync(${JSON.stringify(noted)}, JSON.stringify({ young, execArgv: process.execArgv, argv: process.argv.slice(1) }) + '\\n')
`)
  const env = { ...process.env, NODE_OPTIONS: `--import=${preload}`, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }
  // As npm installs it: a symlink in another directory, whose path is the program's $0.
  const link = join(dir, 'sysbackup-pick')
  symlinkSync(join(BIN_DIR, 'sysbackup-pick.js'), link)
  const direct = spawnSync(link, ['--version', 'two  words', ''], { env, encoding: 'utf8' })
  t.equal(direct.status, 0, direct.stderr)
  t.match(direct.stdout, /^sysbackup-pick \d/, 'the program ran')
  const plain = spawnSync(process.execPath, [join(BIN_DIR, 'sysbackup-pick.js'), '--version'], { env, encoding: 'utf8' })
  t.equal(plain.status, 0, plain.stderr)
  const [asProgram, viaNode] = readFileSync(noted, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { young: number, execArgv: string[], argv: string[] })
  t.same(asProgram!.execArgv, NODE_START_FLAGS, 'node was given the flags')
  t.same(asProgram!.argv, [link, '--version', 'two  words', ''], 'and the program its path and arguments, as they were')
  t.ok(asProgram!.young <= 16 * 1048576, `young generation ${asProgram!.young / 1048576} MB as a program`)
  t.same(viaNode!.execArgv, [])
  t.ok(viaNode!.young > 16 * 1048576, `young generation ${viaNode!.young / 1048576} MB under plain node`)
})
