import { runCommand, type CommandSpec } from '../cli/command.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { VERSION } from '../version.js'
import { SUBCOMMAND_SUMMARIES, SUBCOMMANDS } from './registry.js'

const USAGE = `Usage: s3-sysbackup SUBCOMMAND [options]

Back up a Linux system to S3 (or a local directory) under Object Lock, and
restore it. Each subcommand has its own --help.

Subcommands:
${'{list}'}

See s3-sysbackup(1).
`

function usage(): string {
  const names = Object.keys(SUBCOMMAND_SUMMARIES).sort() as (keyof typeof SUBCOMMAND_SUMMARIES)[]
  const width = Math.max(...names.map((name) => name.length))
  return USAGE.replace('{list}', names.map((name) => `  ${name.padEnd(width)}  ${SUBCOMMAND_SUMMARIES[name]}`).join('\n'))
}

/** `s3-sysbackup SUBCOMMAND ...`: dispatches to the subcommand's own command. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    ;(sub === undefined ? io.stderr : io.stdout).write(usage())
    return sub === undefined ? EXIT.USAGE : EXIT.OK
  }
  if (sub === '--version') {
    io.stdout.write(`s3-sysbackup ${VERSION}\n`)
    return EXIT.OK
  }
  const load = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub as keyof typeof SUBCOMMANDS] : undefined
  if (!load) {
    io.stderr.write(`s3-sysbackup: unknown subcommand "${sub}" (see s3-sysbackup --help)\n`)
    return EXIT.USAGE
  }
  const spec: CommandSpec = await load()
  return runCommand(spec, rest, io)
}
