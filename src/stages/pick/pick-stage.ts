import { join } from 'node:path'
import { UsageError } from '../../cli/errors.js'
import type { StageSpec } from '../../cli/stage.js'
import { loadConfig } from '../../config/load-config.js'
import { DEFAULT_CONFIG_DIR } from '../../config/schema.js'
import { pick } from './pick.js'
import { listPickers } from './pickers-dir.js'

/**
 * sysbackup-pick: the first stage. Runs the pickers of the configuration
 * (or reads paths from standard input) and writes one entry record per
 * file, directory, symlink and special file to back up. See
 * sysbackup-pick(1).
 */
export const pickStage: StageSpec = {
  name: 'sysbackup-pick',
  synopsis: '[--config DIR] [--timeout SECONDS] [--stdin [--null]]',
  summary: 'Runs the pickers in DIR/pickers.d (or reads paths from standard input) and writes\n'
    + 'an entry record for every file, directory, symlink and special file they name, with\n'
    + 'its ancestors and symlink targets: owner, mode, times, POSIX ACLs.',
  options: [
    { name: 'config', type: 'string', arg: 'DIR', help: 'configuration directory (default /etc/backup, or $S3_SYSBACKUP_CONFIG)' },
    { name: 'stdin', type: 'flag', help: 'read paths from standard input instead of running the pickers' },
    { name: 'null', type: 'flag', help: 'with --stdin: paths are separated by NUL bytes (find -print0)' },
    { name: 'timeout', type: 'number', arg: 'SECONDS', help: 'how long each picker may keep us waiting before it is killed; 0: no limit (default: [pickers] timeout)' },
  ],
  readsRecords: false,
  async start(ctx, args) {
    const extra = args.positionals[0]
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" (paths come from the pickers, or from standard input with --stdin)`)
    const fromStdin = args.flag('stdin')
    if (args.flag('null') && !fromStdin) throw new UsageError('--null needs --stdin (the separator of each picker\'s output is detected)')
    const timeout = args.number('timeout')
    if (timeout !== undefined && timeout < 0) throw new UsageError(`--timeout: ${timeout} is negative (seconds, 0 for no limit)`)
    const config = loadConfig(args.string('config'), ctx.io.env)
    const configDir = config.dir ?? DEFAULT_CONFIG_DIR
    const common = { timeoutSeconds: timeout ?? config.values.pickers.timeout, env: ctx.io.env }
    if (fromStdin) {
      return pick(ctx, { ...common, pickers: null, input: ctx.io.stdin, separator: args.flag('null') ? 'nul' : 'auto' })
    }
    return pick(ctx, { ...common, pickers: listPickers(configDir), pickersDir: join(configDir, 'pickers.d') })
  },
}
