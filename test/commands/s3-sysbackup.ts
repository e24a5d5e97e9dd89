import t from 'tap'
import { main } from '../../src/commands/s3-sysbackup.js'
import { SUBCOMMAND_SUMMARIES, SUBCOMMANDS } from '../../src/commands/registry.js'
import { EXIT } from '../../src/cli/exit-status.js'
import { testIO } from '../helpers/io.js'

t.test('--help names every subcommand with what it does, one line each', async (t) => {
  const io = testIO()
  t.equal(await main(['--help'], io), EXIT.OK)
  const lines = io.out().split('\n').filter((line) => /^ {2}[a-z]/.test(line))
  t.same(lines.map((line) => line.trim().split(/\s+/)[0]), Object.keys(SUBCOMMANDS).sort(), 'every subcommand, sorted')
  for (const line of lines) {
    const name = line.trim().split(/\s+/)[0] as keyof typeof SUBCOMMAND_SUMMARIES
    t.ok(line.endsWith(SUBCOMMAND_SUMMARIES[name]), `${name} has its summary`)
    t.ok(line.length <= 80, `${name}: the line fits a terminal (${line.length} columns)`)
  }
  const summaryColumn = new Set(lines.map((line) => line.indexOf(SUBCOMMAND_SUMMARIES[line.trim().split(/\s+/)[0] as keyof typeof SUBCOMMAND_SUMMARIES])))
  t.equal(summaryColumn.size, 1, 'the summaries are aligned')
})

t.test('no subcommand: the same list on standard error, exit status 2; an unknown one: one line', async (t) => {
  const io = testIO()
  t.equal(await main([], io), EXIT.USAGE)
  t.match(io.err(), /^Usage: s3-sysbackup SUBCOMMAND/)
  const unknown = testIO()
  t.equal(await main(['backup'], unknown), EXIT.USAGE)
  t.equal(unknown.err(), 's3-sysbackup: unknown subcommand "backup" (see s3-sysbackup --help)\n')
})
