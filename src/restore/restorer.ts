import type { StageContext } from '../cli/stage.js'
import { describeError } from '../cli/errors.js'
import type { FsPath } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import type { Store } from '../store/store.js'
import { errnoText } from '../util/errno-text.js'
import type { AclBatch } from './acl-batch.js'
import type { ContentSource } from './content-source.js'
import { DirectoryPlan } from './directories.js'
import type { OwnerOutcome } from './entry-metadata.js'
import { HelperError, type FsHelper } from './fs-helper.js'
import { HardLinks } from './hard-links.js'
import { pin, type Inode } from './on-disk.js'
import type { OwnerIds } from './owner-ids.js'
import { restoreRecord, type RestoreAction, type RestoreCounter, type RestoreRecord } from './restore-record.js'
import type { RestoreEntry } from './restore-entry.js'
import type { DirHandle, TargetDirs } from './target-dirs.js'

/** What a restore writes with, and what it shares between entries. */
export interface RestorerParts {
  ctx: StageContext
  target: TargetDirs
  store: Store
  /** Where file content comes from: nowhere (empty), an earlier file of this restore, or the store. */
  content: ContentSource
  owners: OwnerIds
  helper: FsHelper
  acls: AclBatch
  /** Replace existing entries that differ (--overwrite). */
  overwrite: boolean
  /** Access time given to everything restored, in nanoseconds: the restore's start, in whole seconds. */
  atimeNs: bigint
}

/**
 * The state of one restore that every kind of entry uses: where to write,
 * what is pending (directories, hard links), and how results and problems
 * become records. Problems found after an entry's record was written (an
 * ACL batch that failed later) wait in `late` until the engine yields them.
 */
export class Restorer {
  readonly dirs = new DirectoryPlan()
  readonly links = new HardLinks()
  readonly late: Rec[] = []
  private ownerWarned = false
  private xattrWarned = false
  private readonly pendingLater = new Set<Promise<void>>()

  constructor(readonly parts: RestorerParts) {}

  get ctx(): StageContext { return this.parts.ctx }
  get target(): TargetDirs { return this.parts.target }

  count(name: RestoreCounter, n = 1): void {
    this.ctx.count(name, n)
  }

  /** Directories created on the way to an entry are noted for the final pass. */
  readonly onCreated = (parts: readonly Buffer[]): void => this.dirs.noteCreated(parts)

  /** The parent directory of an entry, created when missing; BoundaryError for a symlink or file in the way. */
  parentOf(entry: RestoreEntry): Promise<DirHandle> {
    return this.target.acquire(entry.parts.slice(0, -1), this.onCreated)
  }

  /** The record of what happened to an entry, counted. */
  done(entry: RestoreEntry | { path: FsPath, type: string }, action: RestoreAction, extra: Partial<RestoreRecord> = {}): RestoreRecord {
    this.count(ACTION_COUNTER[action])
    return restoreRecord(entry.path, entry.type, action, extra)
  }

  /** An error record and a `failed` record for an entry. */
  failed(entry: { path: FsPath, type: string }, what: string, err?: unknown): Rec[] {
    const message = err === undefined ? what : `${what}: ${describe(err)}`
    const code = (err as NodeJS.ErrnoException | undefined)?.code
    return [
      this.ctx.problem('error', message, { path: entry.path, ...(typeof code === 'string' && /^E[A-Z]+$/.test(code) && { code }) }),
      this.done(entry, 'failed', { reason: message }),
    ]
  }

  /** Something different is in the way and --overwrite was not given: a warning, and the restore is incomplete. */
  kept(entry: RestoreEntry, what: string): Rec[] {
    const reason = `${what}; kept (use --overwrite to replace it)`
    this.ctx.markIncomplete('existing entries that differ were kept (see the "kept" records)')
    return [this.ctx.problem('warning', reason, { path: entry.path }), this.done(entry, 'kept', { reason })]
  }

  /** Notes a refused chown once: a restore by a user other than root cannot give files away. */
  owner(outcome: OwnerOutcome): void {
    if (outcome !== 'denied') return
    this.ctx.count('ownerDenied')
    if (this.ownerWarned) return
    this.ownerWarned = true
    this.late.push(this.ctx.problem('warning', 'owners and groups are not being restored: not permitted (run the restore as root)', { code: 'EPERM' }))
  }

  /** Sets an entry's times (at `name` in `dir`, never following it); problems as records. `later`: see FsHelper.setTimes. */
  async times(dir: DirHandle, name: Buffer | string, entry: RestoreEntry, when: 'now' | 'later' = 'now'): Promise<Rec[]> {
    try {
      await this.parts.helper.setTimes(dir.forChild(name), this.parts.atimeNs, entry.mtimeNs, when)
      return []
    } catch (err) {
      return [this.ctx.problem('error', `times not restored: ${describe(err)}`, { path: entry.path })]
    }
  }

  /**
   * Sets a file's times and extended attributes as times() and xattrs()
   * do, without waiting for them: their requests go to the helper `later`
   * (batched), `dir` stays open until they are answered, problems become
   * late records, and settled() waits for all. Files take most of the
   * helper's requests (on an SELinux system every file has an attribute),
   * and need not hold a slot of the restore while theirs wait.
   */
  metadataLater(dir: DirHandle, name: Buffer, entry: RestoreEntry, what: { times: boolean }): void {
    if (!what.times && entry.xattrs === undefined) return
    this.target.retain(dir)
    const done = Promise.all([
      what.times ? this.times(dir, name, entry, 'later') : [],
      this.xattrs(dir, name, entry, 'later'),
    ])
      .then((problems) => { this.late.push(...problems.flat()) })
      .finally(() => {
        this.target.release(dir)
        this.pendingLater.delete(done)
      })
    this.pendingLater.add(done)
  }

  /** Resolves once every metadataLater() has been answered. */
  async settled(): Promise<void> {
    while (this.pendingLater.size > 0) await Promise.all(this.pendingLater)
  }

  /** Queues an entry's ACLs (when it has any) on the batch; `st` is the inode that was restored. */
  async acl(dir: DirHandle, name: Buffer | string, entry: RestoreEntry, st?: Inode): Promise<Rec[]> {
    if (entry.acl === undefined && entry.defaultAcl === undefined) return []
    let fd
    try {
      fd = pin(dir, name, st).fd
    } catch (err) {
      return [this.ctx.problem('error', `ACL not restored: ${describe(err)}`, { path: entry.path })]
    }
    await this.parts.acls.add({
      fd,
      ...(entry.acl !== undefined && { acl: entry.acl }),
      ...(entry.defaultAcl !== undefined && { defaultAcl: entry.defaultAcl }),
      mode: entry.mode,
      failed: (message) => { this.late.push(this.ctx.problem('error', message, { path: entry.path })) },
    })
    return []
  }

  /**
   * Sets an entry's extended attributes (when it has any) at `name` in
   * `dir`, never following it: after its content, owner and mode, as chown
   * and a write clear a file's capabilities (security.capability). One
   * refused with EPERM (a restore not run as root, for the trusted and
   * security namespaces) is counted and said once, as a refused chown is;
   * other failures are errors naming the attribute.
   */
  async xattrs(dir: DirHandle, name: Buffer | string, entry: RestoreEntry, when: 'now' | 'later' = 'now'): Promise<Rec[]> {
    if (entry.xattrs === undefined) return []
    const problems: Rec[] = []
    const path = dir.forChild(name)
    // All of the entry's requests are sent before any answer is awaited.
    const outcomes = await Promise.allSettled(entry.xattrs.map(([attribute, value]) => this.parts.helper.setXattr(path, attribute, value, when)))
    let denied = false
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.status === 'fulfilled') continue
      const err: unknown = outcome.reason
      if (err instanceof HelperError && err.code === 'EPERM') {
        denied = true
        continue
      }
      const why = err instanceof HelperError && err.code === 'ENOSYS' && !this.parts.helper.available
        ? `needs python3 (${this.parts.helper.unavailable ?? 'unavailable'})` : describe(err)
      problems.push(this.ctx.problem('error', `extended attribute ${entry.xattrs[i]![0]} not restored: ${why}`, { path: entry.path }))
    }
    if (denied) this.xattrsDenied()
    else if (problems.length === 0) this.count('xattrsSet')
    return problems
  }

  private xattrsDenied(): void {
    this.ctx.count('xattrsDenied')
    if (this.xattrWarned) return
    this.xattrWarned = true
    this.late.push(this.ctx.problem('warning', 'extended attributes of the trusted and security namespaces (file capabilities, SELinux labels) are not being restored: not permitted (run the restore as root)', { code: 'EPERM' }))
  }

  /** Problems found since the last call. */
  drainLate(): Rec[] {
    return this.late.splice(0)
  }
}

const ACTION_COUNTER: Record<RestoreAction, RestoreCounter> = {
  'written': 'written',
  'replaced': 'replaced',
  'linked': 'linked',
  'symlinked': 'symlinked',
  'dir': 'dirsSet',
  'skipped': 'skipped',
  'kept': 'kept',
  'failed': 'failed',
  'would-write': 'wouldWrite',
}

/** One line for any error: an errno code with the system's words, or the error's own message. */
export function describe(err: unknown): string {
  if (err instanceof HelperError) return /^E[A-Z]+$/.test(err.code) ? `${err.code} (${errnoText(err.code)})` : err.message
  const code = (err as NodeJS.ErrnoException).code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && (err as Error).message.startsWith(code)) return `${code} (${errnoText(code)})`
  return describeError(err)
}
