/**
 * The job of the restore's decode workers (decode-workers.ts), run in a
 * worker thread: content in memory, or in a local store's file that the
 * worker reads, is gunzipped when asked (to at most `maxOutput` bytes, else
 * ERR_BUFFER_TOO_LARGE) and hashed, then made
 * a whole file, only when it is what the caller expects (its SHA-256 and
 * size): written to a temporary name, owner, mode and times set, renamed
 * over the name (writeFileNow, the same steps as on the main thread).
 * Content that is not what was expected writes nothing.
 */
import { closeSync, openSync } from 'node:fs'
import { readStartSync } from '../util/fd-io.js'
import { gunzipWhole } from '../util/gunzip-whole.js'
import { sha256Of } from '../util/sha256.js'
import type { JobDone } from '../util/worker-pool.js'
import type { OwnerOutcome } from './entry-metadata.js'
import { writeFileNow, type FileOwner } from './file-writer.js'
import type { Inode } from './on-disk.js'
import { DirHandle } from './target-dirs.js'

/** A body as stored, in a file this worker reads (Store.bodyFile): `size` bytes at `path`. */
export interface BodyInFile {
  path: string
  size: number
}

export interface WriteMessage {
  body: Uint8Array | BodyInFile
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
  /** A body given as its file found no file there: nothing was decoded or written. */
  bodyMissing?: true
}

export function job(m: WriteMessage): JobDone {
  const body = m.body instanceof Uint8Array ? asBuffer(m.body) : readBody(m.body)
  if (body === null) return { answer: { bytes: 0, sha256: '', written: null, bodyMissing: true } satisfies WriteAnswer, transfer: [], bytes: 0 }
  const data = m.gzip ? gunzipWhole(body, m.size, m.maxOutput) : body
  const sha256 = sha256Of(asBuffer(data))
  const bytes = body.length + data.length
  let written: WriteAnswer['written'] = null
  if (sha256 === m.sha256 && (m.size === undefined || m.size === data.length)) {
    const made = writeFileNow(new DirHandle('', [], m.dirFd), asBuffer(m.name), data, m.owner, m.sparse)
    // Only what identifies the inode crosses back: a stat object would lose its class on the way.
    written = { owner: made.owner, timesSet: made.timesSet, st: { dev: made.st.dev, ino: made.st.ino, size: made.st.size } }
  }
  const answer: WriteAnswer = { bytes: data.length, sha256, written }
  return { answer, transfer: [], bytes }
}

/**
 * The body in its file: at most its `size` bytes (more would be the store's
 * damage, which the content's SHA-256 and size then show), or null when
 * there is no such file.
 */
function readBody(file: BodyInFile): Buffer | null {
  let fd
  try {
    fd = openSync(file.path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    return readStartSync(fd, file.size)
  } finally {
    closeSync(fd)
  }
}

/** A message's bytes arrive as a plain Uint8Array: the same memory as a Buffer. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
