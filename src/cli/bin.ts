// First: the heap's growth is set before the rest of the program loads (see heap-growth.ts).
import './heap-growth.js'
import { runCommand, type CommandSpec } from './command.js'
import { processIO, runStage, type CommandIO, type StageSpec } from './stage.js'

/**
 * Entry point for a bin file: runs a stage or command on the process's own
 * stdio and sets the exit status. The process then ends when its work is
 * flushed; a grace timer ends it if a stray handle would keep it alive.
 */
export function runBin(spec: StageSpec | CommandSpec): void {
  runMain((argv, io) => 'readsRecords' in spec ? runStage(spec, argv, io, { handleSignals: true }) : runCommand(spec, argv, io))
}

/** Runs `main(argv, io)` as the process's program and sets the exit status from its result. */
export function runMain(main: (argv: string[], io: CommandIO) => Promise<number>): void {
  // The SDK warns on Node 20 at the first client; that warning is noise for users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  // Writes to a closed pipe surface through the stream pipeline; do not crash here.
  process.stdout.on('error', () => {})
  void main(process.argv.slice(2), processIO()).then((status) => {
    process.exitCode = status
    setTimeout(() => process.exit(status), 10_000).unref()
  })
}
