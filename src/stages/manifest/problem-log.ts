import type { StageContext } from '../../cli/stage.js'
import { displayPath, encodePath, type FsPath } from '../../protocol/path-codec.js'
import type { ProblemRecord } from '../../protocol/records.js'

/** Problems printed on standard error before the rest are only counted. */
export const STDERR_PROBLEMS = 20

/**
 * The problems sysbackup-manifest itself finds (content not stored, a
 * stream cut off, a duplicate path). Each becomes a record for the
 * manifest's log and is counted in the trailer, but only the first
 * STDERR_PROBLEMS are printed: a run fed a million unstored files must
 * not print a million lines; the manifest has every one.
 */
export class ProblemLog {
  private printed = 0
  private unprinted = 0
  private readonly reported = { errors: 0, warnings: 0 }

  constructor(private readonly ctx: StageContext) {}

  /** A counted `error` or `warning` record of this stage. */
  report(type: 'error' | 'warning', message: string, path?: FsPath): ProblemRecord {
    const kind = type === 'error' ? 'errors' : 'warnings'
    this.ctx.count(kind)
    this.reported[kind]++
    const where = path !== undefined ? `${displayPath(path)}: ` : ''
    if (this.printed < STDERR_PROBLEMS) {
      this.printed++
      this.ctx.log(`${type === 'warning' ? 'warning: ' : ''}${where}${message}`)
    } else {
      this.unprinted++
    }
    const rec: ProblemRecord = { type, stage: this.ctx.name, message }
    if (path !== undefined) Object.assign(rec, encodePath(path))
    return rec
  }

  /** Errors or warnings reported so far. */
  counted(kind: 'errors' | 'warnings'): number {
    return this.reported[kind]
  }

  /** Says how many problems were not printed, if any. */
  finish(): void {
    if (this.unprinted > 0) this.ctx.log(`${this.unprinted} more problem(s) not shown here; the manifest's log has them all`)
    this.unprinted = 0
  }
}
