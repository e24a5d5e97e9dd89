import { formatHelp, parseArgs, type OptionSpec, type ParsedArgs } from './args.js'
import { describeError, exitStatusOf } from './errors.js'
import { EXIT } from './exit-status.js'
import type { CommandIO } from './stage.js'
import { VERSION } from '../version.js'

/**
 * A command that is not a record stage (the `s3-sysbackup` subcommands,
 * sysbackup-restore's wrapper, pack-creds…). `main` returns an exit status;
 * a thrown UserError becomes `name: message` and its status.
 */
export interface CommandSpec {
  /** As shown in messages and help, e.g. `s3-sysbackup list`. */
  name: string
  synopsis: string
  summary: string
  options: OptionSpec[]
  /** Man page reference for the help text, e.g. `s3-sysbackup-list(1)`. */
  manPage: string
  main(args: ParsedArgs, io: CommandIO): Promise<number>
}

/** Parses argv, handles --help and --version, runs the command. Never throws. */
export async function runCommand(spec: CommandSpec, argv: string[], io: CommandIO): Promise<number> {
  try {
    const args = parseArgs(spec.options, argv)
    if (args.flag('help')) {
      io.stdout.write(formatHelp(spec.name, spec.synopsis, spec.summary, spec.options, spec.manPage))
      return EXIT.OK
    }
    if (args.flag('version')) {
      io.stdout.write(`${spec.name} ${VERSION}\n`)
      return EXIT.OK
    }
    return await spec.main(args, io)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return EXIT.OK
    io.stderr.write(`${spec.name}: ${describeError(err, io.env)}\n`)
    return exitStatusOf(err)
  }
}
