import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Readable, pipeline } from 'node:stream'
import { promisify } from 'node:util'
import { createGzip, gzip } from 'node:zlib'
import type { FsPath } from '../../protocol/path-codec.js'
import { DEFAULT_PART_SIZE } from '../../store/parts.js'
import type { LockMode, PutOptions, Store } from '../../store/store.js'
import { openRegular, type NotRead } from '../hash/read-content.js'
import { BufferPool } from '../../util/buffer-pool.js'
import { closeQuietly, readAt } from '../../util/fd-io.js'
import type { Limiter } from '../../util/limiter.js'
import { sha256Of } from '../../util/sha256.js'

const gzipAsync = promisify(gzip)

/**
 * Small files gzip-encoded at once (each in the thread pool): as many as
 * the machine has cores. A streamed file's gzip (a zlib stream) is not
 * counted: it would hold a slot for a whole large upload.
 *
 * It was one fewer than the cores (stop 16: 32.3 s against 33.1 with four,
 * when every file's lstat, open and close also went through the pool and
 * the main thread was the bound). Once those calls were synchronous, a
 * profile of a first run showed the main thread idle a third of the time,
 * waiting for the one encoding: 20,000-file first run on 2 cores (bench
 * tree, local store in tmpfs), 10 pairs side by side, median ratio 0.91
 * with two at once (17.98 s against 20.5; three and four no different
 * from two).
 */
export const COMPRESSION_JOBS = availableParallelism()

/** Size of each read of a streamed (large) file. */
export const READ_CHUNK_BYTES = 1024 * 1024

/**
 * Files up to this size are read whole into memory, hashed, and stored
 * with one PutObject under the hash of what was read: the bytes sent are
 * the bytes hashed, so a file that changed meanwhile is simply stored under
 * its new hash. Larger files are streamed (see uploadFile). It equals the
 * store's part size: below it a stream would be one PutObject anyway.
 */
export const SMALL_FILE_MAX = DEFAULT_PART_SIZE

/**
 * Memory a streamed upload holds: S3Store buffers part size × 4 parts
 * (its default concurrency), plus the chunk being read.
 */
export function streamMemory(partSize: number): number {
  return partSize * 4 + READ_CHUNK_BYTES
}

/** How often a streamed file that keeps changing is read before giving up. */
export const MAX_ATTEMPTS = 3

export interface UploadFileOptions {
  store: Store
  lockMode: LockMode
  /** Retention of a stored version. */
  retainUntil: Date
  /** zlib level of gzip-encoded content; 0 stores every content as it is (gzip-level.ts). */
  gzipLevel: number
  smallFileMax: number
  /** Bytes a streamed upload holds (streamMemory). */
  streamBytes: number
  /** The memory budget, in bytes held. */
  memory: Limiter
  /** Small files being gzip-encoded at once (COMPRESSION_JOBS). */
  compressions: Limiter
  signal: AbortSignal
  /** Whether content is already known to be stored: content that changed into it is not uploaded again. */
  isKnown: (sha256: string) => boolean
  /** Called after each chunk of a streamed file is read (tests change the file here). */
  afterChunk?: (path: FsPath, bytesRead: number) => void | Promise<void>
}

/** What the file's content was expected to be: the hash stage's findings. */
export interface ExpectedContent {
  sha256: string
  size: number
  gzip: boolean
}

export type UploadOutcome =
  /** Stored under `sha256`, the hash of the bytes read (the expected one unless the file changed). */
  | { kind: 'stored', sha256: string, readSize: number, versionId: string, bytesRead: number, bytesStored: number }
  /** The file changed into content that `isKnown` says is stored already; nothing uploaded. */
  | { kind: 'known', sha256: string, readSize: number, bytesRead: number }
  /** A large file changed during each of MAX_ATTEMPTS reads. */
  | { kind: 'unstable', bytesRead: number }
  | (NotRead & { bytesRead: number })

/** A failure reading the file (as opposed to storing it), carried through the store's putStream. */
class FileReadError extends Error {
  constructor(readonly code: string) {
    super(`read: ${code}`)
  }
}

/**
 * Reads the regular file at `path` again and stores its content at
 * `content/<sha256 of the bytes read>`, gzip-encoded when expected.gzip
 * (unless opts.gzipLevel is 0),
 * with the lock, metadata and encoding of LAYOUT-CONTRACT. Never stores
 * content under a key it does not hash to (DESIGN invariant 1):
 *
 * - A file up to smallFileMax is read whole, hashed, and stored with one
 *   PutObject under the hash of what was read.
 * - A larger file is streamed (multipart on S3) under the expected key
 *   while being hashed; the upload completes only if the hash matches.
 *   Otherwise it is abandoned and the file read again with the new hash as
 *   the expected one, up to MAX_ATTEMPTS reads.
 *
 * The file is opened as the hash stage opens it (no symlink followed, no
 * FIFO waited on, only a regular file read). Filesystem problems are
 * outcomes; store errors are thrown.
 */
export async function uploadFile(path: FsPath, expected: ExpectedContent, opts: UploadFileOptions): Promise<UploadOutcome> {
  const encode = expected.gzip && opts.gzipLevel > 0
  let expect = { sha256: expected.sha256, size: expected.size }
  let bytesRead = 0
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const opened = openRegular(path)
    if (!('fd' in opened)) return { ...opened, bytesRead }
    const { fd } = opened
    try {
      const size = Number(opened.stats.size)
      if (size <= opts.smallFileMax) {
        const charge = Math.max(size, 1) * (encode ? 2 : 1)
        const small = await opts.memory.run(charge, () => storeSmall(fd, size, expect.sha256, encode, opts))
        if (small.kind !== 'grew') {
          bytesRead += small.bytesRead
          return { ...small, bytesRead }
        }
        bytesRead += small.bytesRead
        // It grew past the in-memory limit while being read: stream it instead.
      }
      const streamed = await opts.memory.run(opts.streamBytes, () => storeStreamed(path, fd, expect, encode, opts))
      bytesRead += streamed.bytesRead
      if (streamed.kind !== 'changed') return { ...streamed, bytesRead }
      if (opts.isKnown(streamed.sha256)) return { kind: 'known', sha256: streamed.sha256, readSize: streamed.readSize, bytesRead }
      expect = { sha256: streamed.sha256, size: streamed.readSize }
    } finally {
      closeQuietly(fd)
    }
  }
  return { kind: 'unstable', bytesRead }
}

type SmallResult =
  | { kind: 'stored', sha256: string, readSize: number, versionId: string, bytesRead: number, bytesStored: number }
  | { kind: 'known', sha256: string, readSize: number, bytesRead: number }
  | { kind: 'grew', bytesRead: number }
  | (NotRead & { bytesRead: number })

/** Reads the open file (`size` bytes by fstat) whole, hashes it, and stores it under that hash. */
async function storeSmall(fd: number, size: number, expectedSha: string, encode: boolean, opts: UploadFileOptions): Promise<SmallResult> {
  const chunks: Buffer[] = []
  const buffers: Buffer[] = []
  let total = 0
  for (;;) {
    opts.signal.throwIfAborted()
    // Room for one byte more than fstat said, so a file that grew is seen growing.
    const want = total < size ? size - total + 1 : READ_CHUNK_BYTES
    const length = Math.min(want, READ_CHUNK_BYTES, opts.smallFileMax + 1 - total)
    const buffer = readBuffers.take(length)
    buffers.push(buffer)
    let n: number
    try {
      n = await readAt(fd, buffer, 0, length, total)
    } catch (err) {
      return { ...notReadOf(err), bytesRead: total }
    }
    if (n === 0) break
    chunks.push(buffer.subarray(0, n))
    total += n
    if (total > opts.smallFileMax) return { kind: 'grew', bytesRead: total }
    // A short read reaching the size fstat gave is the end: saves a read of 0 bytes per file.
    if (n < length && total === size) break
  }
  const content = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)
  const sha256 = sha256Of(content)
  let result: SmallResult
  if (sha256 !== expectedSha && opts.isKnown(sha256)) {
    result = { kind: 'known', sha256, readSize: total, bytesRead: total }
  } else {
    const body = encode ? await opts.compressions.run(1, () => gzipAsync(content, { level: opts.gzipLevel })) : content
    const { versionId } = await opts.store.putBuffer(`content/${sha256}`, body, putOptions(sha256, total, encode, opts))
    result = { kind: 'stored', sha256, readSize: total, versionId, bytesRead: total, bytesStored: body.length }
  }
  // Only now are the reads, the gzip and the put done with them; on any
  // other way out they are left to the collector.
  for (const buffer of buffers) readBuffers.give(buffer)
  return result
}

/** Read buffers of small files, reused (see BufferPool): at most 8 jobs of up to 1 MiB each in flight, so 16 MiB kept is plenty. */
const readBuffers = new BufferPool(16 * 1024 * 1024)

type StreamResult =
  | { kind: 'stored', sha256: string, readSize: number, versionId: string, bytesRead: number, bytesStored: number }
  /** The bytes read hash to `sha256`, not to the expected hash: nothing stored. */
  | { kind: 'changed', sha256: string, readSize: number, bytesRead: number }
  | (NotRead & { bytesRead: number })

async function storeStreamed(path: FsPath, fd: number, expect: { sha256: string, size: number }, encode: boolean, opts: UploadFileOptions): Promise<StreamResult> {
  const hash = createHash('sha256')
  let readSize = 0
  let bytesStored = 0
  let actual: string | undefined
  /**
   * The read under way, if any. A store that gives up on the body (a failed
   * part, zlib's stream torn down) may leave one behind, and `fd` must not
   * be closed under it: its number could be reused at once by a socket.
   */
  let reading: Promise<number> | undefined

  async function* fileChunks(): AsyncGenerator<Buffer> {
    for (;;) {
      opts.signal.throwIfAborted()
      // A fresh buffer each time: the store and zlib may still hold the previous chunk.
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)
      let n: number
      try {
        n = await (reading = readAt(fd, buffer, 0, buffer.length, readSize))
      } catch (err) {
        throw new FileReadError((err as NodeJS.ErrnoException).code ?? 'EIO')
      }
      if (n === 0) return
      const chunk = buffer.subarray(0, n)
      hash.update(chunk)
      readSize += n
      await opts.afterChunk?.(path, readSize)
      yield chunk
    }
  }

  async function* counted(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      bytesStored += chunk.length
      yield chunk
    }
  }

  const body = encode ? gzipStream(fileChunks(), opts.gzipLevel) : fileChunks()
  let result: { versionId: string } | null
  try {
    result = await opts.store.putStream(`content/${expect.sha256}`, counted(body), {
      ...putOptions(expect.sha256, expect.size, encode, opts),
      signal: opts.signal,
      beforeComplete: async () => {
        actual = hash.digest('hex')
        return actual === expect.sha256
      },
    })
  } catch (err) {
    if (err instanceof FileReadError) return { ...notReadOf(err), bytesRead: readSize }
    throw err
  } finally {
    await reading?.catch(() => {})
  }
  if (result === null) return { kind: 'changed', sha256: actual!, readSize, bytesRead: readSize }
  return { kind: 'stored', sha256: expect.sha256, readSize, versionId: result.versionId, bytesRead: readSize, bytesStored }
}

/** The chunks gzip-compressed as they come; a failure of the source fails the output. */
function gzipStream(source: AsyncIterable<Buffer>, level: number): AsyncIterable<Buffer> {
  const gz = createGzip({ level })
  // pipeline destroys every stream on an error, so the consumer's iteration rejects with it.
  pipeline(Readable.from(source, { objectMode: false }), gz, () => {})
  return gz
}

/** Lock, metadata and encoding of a content object (LAYOUT-CONTRACT). */
function putOptions(sha256: string, size: number, encode: boolean, opts: UploadFileOptions): PutOptions {
  return {
    lockMode: opts.lockMode,
    retainUntil: opts.retainUntil,
    metadata: { sha256, size: String(size), encoding: encode ? 'gzip' : 'identity' },
    ...(encode && { contentEncoding: 'gzip' }),
  }
}

function notReadOf(err: unknown): NotRead {
  const code = err instanceof FileReadError ? err.code : (err as NodeJS.ErrnoException).code
  if (code === undefined) throw err
  if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'gone', code }
  return { kind: 'failed', code, step: 'read' }
}
