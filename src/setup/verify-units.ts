import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findProgram, runProgram } from './run-program.js'

export interface UnitFile {
  name: string
  content: string
}

export type VerifyOutcome =
  | { kind: 'ok' }
  | { kind: 'unavailable' }
  | { kind: 'rejected', messages: string[] }

/** The command line verifyUnits runs, as --dry-run shows it. */
export function describeVerify(units: UnitFile[]): string {
  return `run  systemd-analyze verify --man=no ${units.map((u) => u.name).join(' ')}`
}

/**
 * Checks unit files with `systemd-analyze verify` before they are
 * installed: they are written to a scratch directory under their own
 * names and verified there, so a rejected unit never reaches the system.
 *
 * Rejected means a non-zero status, or any message about one of these
 * files (systemd only warns, status 0, about an unknown key or a bad
 * value it then ignores). Messages about other units on the machine are
 * not ours to judge and are ignored. `--man=no`: the Documentation= pages
 * are installed with the package, not necessarily on the checking machine.
 * ExecStart= must name an executable that exists here.
 */
export async function verifyUnits(units: UnitFile[], env: NodeJS.ProcessEnv): Promise<VerifyOutcome> {
  const program = findProgram('systemd-analyze', env)
  if (!program) return { kind: 'unavailable' }
  const dir = mkdtempSync(join(tmpdir(), 's3-sysbackup-units-'))
  try {
    const paths = units.map((u) => {
      const path = join(dir, u.name)
      writeFileSync(path, u.content)
      return path
    })
    const result = await runProgram(program, ['verify', '--man=no', ...paths], env)
    const ours = (result.stdout + result.stderr).split('\n')
      .filter((l) => l.trim() !== '' && units.some((u) => l.includes(u.name)))
      .map((l) => l.replaceAll(dir + '/', ''))
    if (result.status !== 0 || ours.length > 0) {
      const all = (result.stdout + result.stderr).split('\n').filter((l) => l.trim() !== '').map((l) => l.replaceAll(dir + '/', ''))
      return { kind: 'rejected', messages: ours.length > 0 ? ours : all }
    }
    return { kind: 'ok' }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
