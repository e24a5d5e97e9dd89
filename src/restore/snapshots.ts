import { spawn } from 'node:child_process'
import { closeSync, constants, openSync } from 'node:fs'
import { displayPath, encodePathField } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import { StoreFatalError } from '../store/errors.js'
import type { Confirm } from './confirm.js'
import { fetchContent } from './fetch-content.js'
import { writeFile } from './file-writer.js'
import { hasContent, lookAt } from './on-disk.js'
import type { RestoreRecord } from './restore-record.js'
import { describe, type Restorer } from './restorer.js'
import type { DirHandle, TargetDirs } from './target-dirs.js'

/** Where snapshots go, and whether their restore-through commands run. */
export interface SnapshotOptions {
  /** The directory tree they are written in, and the directory below its root. */
  dirs: TargetDirs
  parts: Buffer[]
  /** `yes`: run every restore-through command; `ask`: ask `confirm` for each; `no`: only print them. */
  run: 'yes' | 'ask' | 'no'
  confirm?: Confirm
  /** Environment of the commands: without any AWS credential (scrubbedEnvironment). */
  env: NodeJS.ProcessEnv
}

const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/

/**
 * Restores the snapshots of a manifest: each is downloaded (verified
 * against its SHA-256) into the snapshot directory as a file named after
 * the snapshot, mode 0600 and owned by the restoring user (they are
 * database dumps and the like). Its restore-through command, when it has
 * one, is printed, and run only with `run: 'yes'` or after `confirm` says
 * yes — by `/bin/sh -c`, with the snapshot file on standard input, in the
 * snapshot directory, with the scrubbed environment, its output on our
 * standard error. Yields a `restore` record per snapshot (entry
 * `snapshot`, with `name`, `to`, `size` and `restoreThrough`: ran,
 * failed or not-run) and error records.
 */
export async function* restoreSnapshots(r: Restorer, snapshots: Rec[], options: SnapshotOptions): AsyncGenerator<Rec> {
  if (snapshots.length === 0) return
  let dir: DirHandle
  try {
    dir = await options.dirs.acquire(options.parts, () => {})
  } catch (err) {
    for (const snap of snapshots) yield* snapshotFailed(r, snap, `not restored: snapshot directory ${displayPath(options.dirs.where(options.parts))}: ${describe(err)}`)
    return
  }
  try {
    for (const snap of snapshots) {
      if (r.ctx.signal.aborted) return
      yield* restoreOne(r, snap, dir, options)
    }
  } finally {
    options.dirs.release(dir)
  }
}

async function* restoreOne(r: Restorer, snap: Rec, dir: DirHandle, options: SnapshotOptions): AsyncGenerator<Rec> {
  r.count('snapshots')
  const name = typeof snap.name === 'string' ? snap.name : ''
  if (!SNAPSHOT_NAME.test(name)) {
    yield* snapshotFailed(r, snap, `not restored: "${name}" is not a snapshot name (letters, digits, ".", "_", "-")`)
    return
  }
  if (typeof snap.key !== 'string' || typeof snap.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(snap.sha256)) {
    yield* snapshotFailed(r, snap, 'not restored: the snapshot record has no "key" or no "sha256"')
    return
  }
  const nameBytes = Buffer.from(name)
  const to = options.dirs.where([...options.parts, nameBytes])
  const record = (action: RestoreRecord['action'], extra: Partial<RestoreRecord> = {}): RestoreRecord => {
    r.count(action === 'skipped' ? 'skipped' : action === 'kept' ? 'kept' : 'written')
    return { type: 'restore', entry: 'snapshot', name, action, ...encodePathField('to', to) as Partial<RestoreRecord>, ...extra }
  }
  let size: number
  let action: RestoreRecord['action'] = 'written'
  try {
    const existing = lookAt(dir, nameBytes)
    const expected = typeof snap.size === 'number' ? snap.size : undefined
    if (existing !== null && existing.kind === 'file' && (expected === undefined || existing.st.size === BigInt(expected))
      && await hasContent(dir, nameBytes, snap.sha256, Number(existing.st.size))) {
      action = 'skipped'
      size = Number(existing.st.size)
    } else {
      if (existing !== null && !r.parts.overwrite) {
        r.ctx.markIncomplete('existing entries that differ were kept (see the "kept" records)')
        yield r.ctx.problem('warning', `snapshot ${name}: a different ${existing.kind} is at ${displayPath(to)}; kept (use --overwrite to replace it)`)
        yield record('kept')
        return
      }
      const ref = { key: snap.key, sha256: snap.sha256, ...(typeof snap.versionId === 'string' && { versionId: snap.versionId }) }
      const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mode: 0o600 }
      const { fetched } = await writeFile(dir, nameBytes, (out) => fetchContent(r.parts.store, ref, out, r.ctx.signal), owner)
      r.count('bytesWritten', fetched.bytes)
      r.count('bytesDownloaded', fetched.transferred)
      if (existing !== null) action = 'replaced'
      size = fetched.bytes
    }
  } catch (err) {
    if (err instanceof StoreFatalError) throw err
    yield* snapshotFailed(r, snap, `not restored: ${describe(err)}`)
    return
  }

  const command = typeof snap.restoreThrough === 'string' && snap.restoreThrough.trim() !== '' ? snap.restoreThrough : undefined
  if (command === undefined) {
    yield record(action, { size })
    return
  }
  if (typeof snap.restoreThroughB64 === 'string') {
    // The text has U+FFFD where the bytes were not UTF-8: running it would run another command.
    const reason = 'restore-through command not run: it is not valid UTF-8 (its exact bytes are the manifest\'s restoreThroughB64)'
    yield r.ctx.problem('warning', `snapshot ${name}: ${reason}`)
    yield record(action, { size, restoreThrough: 'not-run', reason })
    return
  }
  r.ctx.log(`snapshot ${name} is at ${displayPath(to)}; its restore-through command is: ${command}`)
  const allowed = options.run === 'yes' || (options.run === 'ask' && options.confirm !== undefined
    && await options.confirm(`Run the restore-through command of snapshot ${name} now, with the snapshot on its standard input?`))
  if (!allowed) {
    yield record(action, { size, restoreThrough: 'not-run', reason: 'restore-through command not run (give --yes, or answer yes on a terminal)' })
    return
  }
  const status = await runRestoreThrough(r, command, dir, nameBytes, options)
  if (status === 0) {
    r.count('restoreThroughRun')
    yield record(action, { size, restoreThrough: 'ran' })
  } else {
    yield r.ctx.problem('error', `snapshot ${name}: restore-through command failed (${status})`)
    yield record(action, { size, restoreThrough: 'failed', reason: `restore-through command failed (${status})` })
  }
}

/** Runs `command` by /bin/sh with the snapshot on stdin; its output goes to our stderr. Returns "exit status N" style text, or 0. */
async function runRestoreThrough(r: Restorer, command: string, dir: DirHandle, name: Buffer, options: SnapshotOptions): Promise<0 | string> {
  const input = openSync(dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    return await new Promise<0 | string>((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], {
        stdio: [input, 'pipe', 'pipe'],
        env: options.env,
        cwd: options.dirs.where(options.parts).toString(),
      })
      child.stdout!.on('data', (c: Buffer) => r.ctx.io.stderr.write(c))
      child.stderr!.on('data', (c: Buffer) => r.ctx.io.stderr.write(c))
      child.on('error', (err) => resolve(`cannot run /bin/sh: ${err.message}`))
      child.on('close', (code, signal) => resolve(code === 0 ? 0 : signal !== null ? `killed by ${signal}` : `exit status ${code}`))
    })
  } finally {
    closeSync(input)
  }
}

function snapshotFailed(r: Restorer, snap: Rec, message: string): Rec[] {
  const name = typeof snap.name === 'string' ? snap.name : '?'
  r.count('failed')
  return [
    r.ctx.problem('error', `snapshot ${name}: ${message}`),
    { type: 'restore', entry: 'snapshot', name, action: 'failed', reason: message },
  ]
}
