import { setMaxListeners } from 'node:events'
import { mkdir } from 'node:fs/promises'
import type { StageContext } from '../cli/stage.js'
import type { ManifestReader } from '../manifests/read-manifest.js'
import { countRequests } from '../stages/request-counters.js'
import { keyTimestamp } from '../stages/run-identity.js'
import { isEntry, type Rec } from '../protocol/records.js'
import type { Store } from '../store/store.js'
import { mapUnordered } from '../util/concurrency.js'
import { AclBatch } from './acl-batch.js'
import { ContentSource } from './content-source.js'
import type { Confirm } from './confirm.js'
import { planEntry } from './dry-run.js'
import { DecodeWorkers } from './decode-workers.js'
import { finishDirectories } from './finish-directories.js'
import { FsHelper } from './fs-helper.js'
import type { PathFilter } from './glob-filter.js'
import { OwnerIds, SYSTEM_OWNER_SOURCES, type OwnerIdSources } from './owner-ids.js'
import { restoreFile } from './restore-file.js'
import { RESTORE_COUNTERS, restoreRecord } from './restore-record.js'
import { EntryError, parseEntry, type DirEntry, type RestoreEntry, type SymlinkEntry } from './restore-entry.js'
import { restoreSpecial } from './restore-special.js'
import { restoreSymlink } from './restore-symlink.js'
import { Restorer } from './restorer.js'
import { restoreSnapshots } from './snapshots.js'
import { TargetDirs } from './target-dirs.js'

/** Where snapshots go and whether their commands run; null: snapshots are not restored. */
export interface SnapshotPlan {
  /** A directory of the user's (created if missing), else under the target: `var/backups/s3-sysbackup/<host>-<stamp>`. */
  dir?: string
  run: 'yes' | 'ask' | 'no'
  confirm?: Confirm
}

/** Everything one restore needs. */
export interface RestoreRun {
  ctx: StageContext
  input: ManifestReader
  /** The directory to restore into (created when missing). */
  target: string
  filter: PathFilter
  overwrite: boolean
  /** Leave whole blocks of zeros in files as holes (--sparse; sparse.ts). */
  sparse?: boolean
  /** Downloads and writes at once. */
  jobs: number
  dryRun: boolean
  numericOwner: boolean
  /** The store content is read from; unused (may be null) in a dry run. */
  store: Store | null
  snapshots: SnapshotPlan | null
  /** Environment of child processes (python3, setfacl, restore-through commands): no AWS credentials. */
  childEnv: NodeJS.ProcessEnv
  /** Where owner names are looked up (tests); the system's files by default. */
  ownerSources?: Omit<OwnerIdSources, 'env'>
  /** Clock, for the access time given to restored entries. */
  now?: () => Date
}

type Task = () => Promise<Rec[]>

/**
 * Restores the entries and snapshots of a manifest into a target
 * directory and yields what happened: a `restore` record per entry
 * (sysbackup-restore(1)), `error` and `warning` records. In order:
 * 1. While the manifest streams by: directories are created (mode 0700);
 *    files and special files are restored, `jobs` at a time, each file's
 *    content downloaded and verified before it is renamed into place;
 *    hard links are made as their first entry is restored.
 * 2. Symbolic links, once nothing more will be written beneath them.
 * 3. Snapshots, and their restore-through commands when allowed.
 * 4. Directories, deepest first: owner, mode, ACLs, times (last, since
 *    making anything in a directory changes its modification time).
 * Input need not be sorted (a jq-filtered manifest); sorted input only
 * keeps fewer directories open. Per-entry problems are records and the
 * restore goes on; only a store that refuses everything (StoreFatalError)
 * or a manifest of a newer protocol (ProtocolError) throws.
 */
export async function* restoreManifest(run: RestoreRun): AsyncGenerator<Rec> {
  const { ctx } = run
  for (const name of RESTORE_COUNTERS) ctx.count(name, 0)
  try {
    yield* run.dryRun ? dryRun(run) : restore(run)
  } finally {
    // Every request of the run, the manifest's own GetObject included (the store is opened for this run).
    if (run.store !== null) countRequests(ctx, run.store)
  }
}

async function* restore(run: RestoreRun): AsyncGenerator<Rec> {
  const { ctx } = run
  // Each download in flight listens for the abort.
  setMaxListeners(run.jobs + 10, ctx.signal)
  await mkdir(run.target, { recursive: true, mode: 0o700 })
  const target = await TargetDirs.open(run.target)
  const helper = await FsHelper.start(run.childEnv)
  if (!helper.available) {
    yield ctx.problem('warning', `times are restored to about a microsecond, not the nanosecond, and special files cannot be made: ${helper.unavailable}`)
  }
  const owners = new OwnerIds({ ...(run.ownerSources ?? SYSTEM_OWNER_SOURCES), env: run.childEnv }, run.numericOwner)
  const acls = new AclBatch({ env: run.childEnv, owners, onSet: () => ctx.count('aclsSet') })
  const now = run.now?.() ?? new Date()
  const decoder = new DecodeWorkers()
  const r = new Restorer({
    ctx, target, store: run.store!, content: new ContentSource(run.store!, target, ctx.signal, decoder, run.sparse === true), owners, helper, acls, overwrite: run.overwrite,
    // Whole seconds, which FsHelper sets without its helper process.
    atimeNs: BigInt(Math.floor(now.getTime() / 1000)) * 1_000_000_000n,
  })
  const symlinks: SymlinkEntry[] = []
  const snapshots: Rec[] = []
  try {
    const tasks = entryTasks(run, r, symlinks, snapshots)
    // Plain loops: `yield*` over an array costs several promise turns per element.
    for await (const recs of mapUnordered(tasks, Math.max(1, run.jobs), (task) => task())) {
      for (const rec of recs) yield rec
      for (const rec of r.drainLate()) yield rec
    }
    await r.settled()
    yield* r.drainLate()
    yield* verdictProblems(run)
    if (ctx.signal.aborted) return
    for (const entry of symlinks) {
      if (ctx.signal.aborted) return
      yield* await restoreSymlink(r, entry)
    }
    // Snapshots before the directories are finished: making the snapshot directory
    // changes the modification time of the restored directory it is made in.
    if (run.snapshots !== null && !ctx.signal.aborted) {
      const place = run.snapshots.dir !== undefined ? await TargetDirs.open(await mkdirP(run.snapshots.dir)) : target
      try {
        yield* restoreSnapshots(r, snapshots, {
          dirs: place,
          parts: run.snapshots.dir !== undefined ? [] : defaultSnapshotParts(run.input),
          run: run.snapshots.run,
          ...(run.snapshots.confirm && { confirm: run.snapshots.confirm }),
          env: run.childEnv,
        })
      } finally {
        if (place !== target) await place.close()
      }
    } else if (snapshots.length > 0) {
      yield ctx.problem('warning', `${snapshots.length} snapshot(s) not restored (--no-snapshots)`)
    }
    if (ctx.signal.aborted) return
    yield* finishDirectories(r)
    await acls.flush()
    yield* r.drainLate()
  } finally {
    await acls.flush().catch(() => {})
    await decoder.close()
    await helper.close()
    await target.close()
  }
}

/** Reads the manifest and turns each line into a task; directories are created here, in input order. */
async function* entryTasks(run: RestoreRun, r: Restorer, symlinks: SymlinkEntry[], snapshots: Rec[]): AsyncGenerator<Task> {
  const { ctx } = run
  for await (const entry of selectedEntries(run, snapshots, (dir) => r.dirs.noteUnselected(dir))) {
    if (ctx.signal.aborted) return
    if ('problems' in entry) {
      const recs = entry.problems
      yield async () => recs
      continue
    }
    switch (entry.type) {
      case 'dir': {
        const recs = await noteDirectory(r, entry)
        if (recs.length > 0) yield async () => recs
        break
      }
      case 'file':
        yield () => restoreFile(r, entry)
        break
      case 'special':
        yield () => restoreSpecial(r, entry)
        break
      case 'symlink':
        symlinks.push(entry)
        break
    }
  }
}

/** Creates a directory entry's directory now (its metadata comes at the end). */
async function noteDirectory(r: Restorer, entry: RestoreEntry & { type: 'dir' }): Promise<Rec[]> {
  try {
    const handle = await r.target.acquire(entry.parts, r.onCreated)
    r.target.release(handle)
    r.dirs.noteEntry(entry)
    return []
  } catch (err) {
    return r.failed(entry, 'not restored', err)
  }
}

/**
 * The manifest's entries that the filter selects, parsed; lines and
 * entries that cannot be used become problem records. Snapshot records are
 * collected, and directories the filter leaves out are given to
 * `unselectedDir` (their metadata serves if they must be created anyway);
 * everything else (header, trailer, the backup's log) is read and not
 * passed on.
 */
async function* selectedEntries(run: RestoreRun, snapshots: Rec[], unselectedDir?: (dir: DirEntry) => void): AsyncGenerator<RestoreEntry | { problems: Rec[] }> {
  const { ctx, input } = run
  for await (const line of input) {
    if (line.problem !== undefined) {
      yield { problems: [ctx.problem('error', `${input.source}:${line.line}: ${line.problem}; line skipped`)] }
      continue
    }
    const rec = line.rec
    if (rec.type === 'snapshot') {
      snapshots.push(rec)
      continue
    }
    if (!isEntry(rec)) continue
    ctx.count('entries')
    let entry: RestoreEntry
    try {
      entry = parseEntry(rec)
    } catch (err) {
      if (!(err instanceof EntryError)) throw err
      const message = `${input.source}:${line.line}: ${rec.type} entry: ${err.message}; not restored`
      ctx.count('failed')
      if (err.path === undefined) {
        yield { problems: [ctx.problem('error', message)] }
      } else {
        yield { problems: [ctx.problem('error', message, { path: err.path }), restoreRecord(err.path, rec.type, 'failed', { reason: message })] }
      }
      continue
    }
    if (!run.filter.selects(entry.path)) {
      ctx.count('filtered')
      if (entry.type === 'dir') unselectedDir?.(entry)
      continue
    }
    ctx.count(entry.type === 'special' ? 'specials' : `${entry.type}s`)
    yield entry
  }
}

/** What the manifest as a whole showed, as problem records: cut off, altered, counted wrong, an incomplete backup. */
function verdictProblems(run: RestoreRun): Rec[] {
  const { ctx, input } = run
  const v = input.verdict()
  const out: Rec[] = []
  if (v.truncated !== undefined) out.push(ctx.problem('error', `${v.truncated}; the entries after it are not restored`))
  if (v.digest === 'mismatch') out.push(ctx.problem('error', `${input.source}: the digest in its trailer does not match its lines: the manifest was altered`))
  if (v.digest === 'absent') out.push(ctx.problem('warning', `${input.source}: its trailer has no digest: the manifest cannot be checked`))
  if (v.entriesCounted !== undefined && v.truncated === undefined && v.entriesCounted !== v.entriesRead) {
    out.push(ctx.problem('error', `${input.source}: ${v.entriesRead} entries read, but its trailer counts ${v.entriesCounted}`))
  }
  if (v.backupComplete === false) {
    out.push(ctx.problem('warning', `this is the manifest of an incomplete backup${v.reason !== undefined ? ` (${v.reason})` : ''}: some files were not backed up`))
  }
  return out
}

/** `var/backups/s3-sysbackup/<host>-<stamp>` below the target, from the manifest's header. */
function defaultSnapshotParts(input: ManifestReader): Buffer[] {
  const header = input.header
  const host = typeof header?.host === 'string' && /^[A-Za-z0-9._-]+$/.test(header.host) ? header.host : 'unknown-host'
  const time = typeof header?.runTime === 'string' ? header.runTime : header?.startedAt
  const date = typeof time === 'string' ? new Date(time) : new Date(NaN)
  const stamp = Number.isNaN(date.getTime()) ? 'unknown-time' : keyTimestamp(date)
  return ['var', 'backups', 's3-sysbackup', `${host}-${stamp}`].map((p) => Buffer.from(p))
}

async function mkdirP(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  return dir
}

/** `--dry-run`: the plan of every selected entry and snapshot; nothing is written or downloaded. */
async function* dryRun(run: RestoreRun): AsyncGenerator<Rec> {
  const { ctx } = run
  let target: TargetDirs | null = null
  try {
    target = await TargetDirs.open(run.target)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const snapshots: Rec[] = []
  try {
    for await (const entry of selectedEntries(run, snapshots)) {
      const recs = 'problems' in entry ? entry.problems : await planEntry(ctx, target, run.target, entry)
      for (const rec of recs) yield rec
    }
    yield* verdictProblems(run)
    if (run.snapshots !== null) {
      const root = run.snapshots.dir ?? target?.root ?? run.target
      const below = run.snapshots.dir !== undefined ? [] : defaultSnapshotParts(run.input)
      for (const snap of snapshots) {
        ctx.count('snapshots')
        ctx.count('wouldWrite')
        const to = [root === '/' ? '' : root, ...below.map(String), String(snap.name)].join('/')
        yield { type: 'restore', entry: 'snapshot', name: snap.name, action: 'would-write', to, ...(typeof snap.size === 'number' && { size: snap.size }),
          ...(typeof snap.restoreThrough === 'string' && { restoreThrough: 'not-run' }) }
      }
    }
  } finally {
    await target?.close()
  }
}
