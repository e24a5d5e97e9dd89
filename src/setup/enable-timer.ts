import { existsSync } from 'node:fs'
import { FatalError } from '../cli/errors.js'
import { runProgram } from './run-program.js'

/**
 * The systemctl command line that enables `unit`: under another root,
 * `systemctl --root=DIR enable` (it only makes the symlinks, no running
 * systemd needed); on the running system, `enable --now` when systemd is
 * running (so the timer is active at once), plain `enable` when it is not
 * (a container, a chroot).
 */
export function enableCommand(root: string, unit: string): string[] {
  if (root !== '/') return [`--root=${root}`, 'enable', unit]
  return existsSync('/run/systemd/system') ? ['enable', '--now', unit] : ['enable', unit]
}

export function describeEnable(root: string, unit: string): string {
  return `run  systemctl ${enableCommand(root, unit).join(' ')}`
}

/** Runs systemctl to enable the timer; a failure is fatal (exit 3) with systemctl's own words. */
export async function enableTimer(systemctl: string, root: string, unit: string, env: NodeJS.ProcessEnv): Promise<string> {
  const args = enableCommand(root, unit)
  const result = await runProgram(systemctl, args, env)
  if (result.status !== 0) {
    const why = result.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit ${result.status}`
    throw new FatalError(`systemctl ${args.join(' ')} failed: ${why}`)
  }
  return `run  systemctl ${args.join(' ')}`
}
