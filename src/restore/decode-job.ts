/**
 * The job of the restore's decode workers (decode-workers.ts), run in a
 * worker thread: content already in memory is gunzipped when asked (to at
 * most `maxOutput` bytes, else ERR_BUFFER_TOO_LARGE) and hashed, then made
 * a whole file, only when it is what the caller expects (its SHA-256 and
 * size): written to a temporary name, owner, mode and times set, renamed
 * over the name (writeFileNow, the same steps as on the main thread).
 * Content that is not what was expected writes nothing.
 */
import { gunzipWhole } from '../util/gunzip-whole.js'
import { sha256Of } from '../util/sha256.js'
import type { JobDone } from '../util/worker-pool.js'
import type { OwnerOutcome } from './entry-metadata.js'
import { writeFileNow, type FileOwner } from './file-writer.js'
import type { Inode } from './on-disk.js'
import { DirHandle } from './target-dirs.js'

export interface WriteMessage {
  body: Uint8Array
  gzip: boolean
  maxOutput: number
  /** The directory's descriptor in this process (DirHandle.fd), held open by the caller until answered. */
  dirFd: number
  name: Uint8Array
  sha256: string
  /** The size the content must have, when known. */
  size: number | undefined
  owner: FileOwner
  /** Leave whole blocks of zeros as holes (sparse.ts). */
  sparse: boolean
}

/** The job's answer: what the content decoded to, and the file's inode and outcome when it was written. */
export interface WriteAnswer {
  bytes: number
  sha256: string
  /** Null when the content was not what was expected: nothing was written. */
  written: { owner: OwnerOutcome, timesSet: boolean, st: Inode } | null
}

export function job(m: WriteMessage): JobDone {
  const data = m.gzip ? gunzipWhole(asBuffer(m.body), m.size, m.maxOutput) : m.body
  const sha256 = sha256Of(asBuffer(data))
  const bytes = m.body.length + data.length
  let written: WriteAnswer['written'] = null
  if (sha256 === m.sha256 && (m.size === undefined || m.size === data.length)) {
    const made = writeFileNow(new DirHandle('', [], m.dirFd), asBuffer(m.name), data, m.owner, m.sparse)
    // Only what identifies the inode crosses back: a stat object would lose its class on the way.
    written = { owner: made.owner, timesSet: made.timesSet, st: { dev: made.st.dev, ino: made.st.ino, size: made.st.size } }
  }
  const answer: WriteAnswer = { bytes: data.length, sha256, written }
  return { answer, transfer: [], bytes }
}

/** A message's bytes arrive as a plain Uint8Array: the same memory as a Buffer. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
