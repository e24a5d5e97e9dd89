import { createHash, type Hash } from 'node:crypto'
import { pipeline as chain, Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import type { ObjectInfo, Store } from '../store/store.js'
import { setLength, writeMaybeSparse } from './sparse.js'
import { sha256Of } from '../util/sha256.js'
import { gunzipWhole } from '../util/gunzip-whole.js'

/** Bodies the store already holds in memory are decoded in one call when their metadata says they decode to at most this. */
const WHOLE_DECODE_BYTES = 4 * 1024 * 1024

/**
 * Output chunk of a streamed body's gunzip (zlib's default is 16 KiB):
 * every chunk costs the main thread a callback, a hash update and a write,
 * and writes of more than 64 KiB go through the thread pool (fd-io.ts)
 * where smaller ones are copied on the main thread.
 */
const STREAM_CHUNK_BYTES = 256 * 1024

/** Where a file's content is: its key `content/<sha256>` and the version the manifest names. */
export interface ContentRef {
  key: string
  /** The version the manifest names; the newest when absent. */
  versionId?: string
  /** The SHA-256 of the decoded content: the hash in the key. */
  sha256: string
}

/** Content that is not what its key says: not written. */
export class ContentMismatchError extends Error {
  override name = 'ContentMismatchError'
}

export interface Fetched {
  /** Decoded bytes written. */
  bytes: number
  /** Bytes transferred from the store (after any content encoding); 0 when none was asked. */
  transferred: number
  gzip: boolean
  /** Where the bytes came from: the store, a file restored earlier in this run, or nowhere (empty content). */
  from: 'store' | 'local' | 'empty'
}

/**
 * Downloads one content object into `out` (an empty file open for
 * writing; written from offset 0), decoding gzip when the object's Content-Encoding or its
 * `encoding` metadata says so, and hashing the decoded bytes as they are
 * written. Throws ContentMismatchError when they do not hash to the key's
 * SHA-256, or their number differs from the object's `size` metadata; the
 * caller then discards the file. Store errors (NotFoundError for a missing
 * key or version) propagate. Memory: one chunk in flight.
 * Cost: one GetObject.
 */
export async function fetchContent(store: Store, ref: ContentRef, out: number, signal?: AbortSignal, sparse = false): Promise<Fetched> {
  return writeBody(await store.get(ref.key, ref.versionId), ref, out, signal, sparse)
}

/** What Store.get answers. */
export type Got = Awaited<ReturnType<Store['get']>>

/** Whether the body is gzip-encoded: by its Content-Encoding or its `encoding` metadata. */
export function isGzip(info: ObjectInfo): boolean {
  return info.contentEncoding?.toLowerCase() === 'gzip' || info.metadata.encoding === 'gzip'
}

/**
 * The body when it is in memory already and small enough to decode in one
 * call, no streams (a small file's pipeline and gunzip stream cost more
 * than its bytes; the store makes `body` only when it is read); else
 * undefined. Such a body decodes to at most WHOLE_DECODE_LIMIT bytes or fails.
 */
export function wholeBody(got: Got): Buffer | undefined {
  return got.whole !== undefined && decodesWhole(got.info) ? got.whole : undefined
}

/** Whether a body held whole is decoded in one call (see wholeBody): stored as it is, or gzip that says it decodes to at most WHOLE_DECODE_BYTES. */
export function decodesWhole(info: ObjectInfo): boolean {
  const statedSize = Number(info.metadata.size)
  return !isGzip(info) || (Number.isSafeInteger(statedSize) && statedSize <= WHOLE_DECODE_BYTES)
}

/** The `maxOutput` of decoding a wholeBody: one byte more than any it may decode to, so more is seen. */
export const WHOLE_DECODE_LIMIT = WHOLE_DECODE_BYTES + 1

/** The number of bytes the object's `size` metadata says its content has, when it says. */
export function statedSize(info: ObjectInfo): number | undefined {
  const stated = info.metadata.size
  return stated !== undefined && /^\d+$/.test(stated) ? Number(stated) : undefined
}

/** fetchContent with the object got already: its body is consumed or destroyed. `sparse`: see sparse.ts. */
export async function writeBody(got: Got, ref: ContentRef, out: number, signal?: AbortSignal, sparse = false): Promise<Fetched> {
  const { info } = got
  const whole = wholeBody(got)
  const gzip = isGzip(info)
  // The hash and the counting stream are made only where used: a body held whole needs neither (each ~5 µs a file).
  let hash: Hash | undefined
  let transferred = 0
  let bytes = 0
  const counter = () => new Transform({
    transform(chunk: Buffer, _enc, done) {
      transferred += chunk.length
      done(null, chunk)
    },
  })
  const write = async (source: AsyncIterable<Buffer> | Iterable<Buffer>) => {
    for await (const chunk of source) {
      (hash ??= createHash('sha256')).update(chunk)
      await writeMaybeSparse(out, chunk, bytes, sparse)
      bytes += chunk.length
    }
  }
  let digest: string | undefined
  // An abort destroys a streamed body (pipeline's own signal option costs an AbortError per call, even unused).
  let onAbort: (() => void) | undefined
  try {
    if (signal?.aborted === true) {
      if (whole === undefined) got.body.destroy()
      signal.throwIfAborted()
    }
    if (whole !== undefined) {
      transferred = whole.length
      const data = gzip ? gunzipWhole(whole, statedSize(info), WHOLE_DECODE_LIMIT) : whole
      await writeMaybeSparse(out, data, 0, sparse)
      bytes = data.length
      digest = sha256Of(data)
    } else {
      const body = got.body
      onAbort = () => body.destroy(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'))
      signal?.addEventListener('abort', onAbort, { once: true })
      if (gzip) await pipeline(body, counter(), createGunzip({ chunkSize: STREAM_CHUNK_BYTES }), write)
      else await pipeline(body, counter(), write)
    }
  } catch (err) {
    throw decodeFailure(err, ref, info)
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
  }
  checkDecoded(ref, info, digest ?? (hash ?? createHash('sha256')).digest('hex'), bytes)
  if (sparse) setLength(out, bytes)
  return { bytes, transferred, gzip, from: 'store' }
}

/**
 * The decoded content of an object got from the store, chunk by chunk, for
 * a consumer that passes it on as it comes (s3-sysbackup dump): gunzipped
 * when isGzip says so, hashed as it goes. Nothing is verified before the
 * iteration ends: after the last chunk it throws ContentMismatchError
 * unless the whole is what checkDecoded wants. It throws that error
 * earlier, too, instead of yielding a chunk that would take the content
 * past its `size` metadata, and when the body is not the gzip it says it
 * is (decodeFailure). Store errors propagate. The body is consumed, or destroyed when the consumer stops
 * early. Memory: one chunk in flight (writeBody, which writes into a file
 * of its own, has a faster path for a body held whole).
 */
export async function* decodedChunks(got: Got, ref: ContentRef): AsyncGenerator<Buffer> {
  const { info, body } = got
  const stated = statedSize(info)
  const hash = createHash('sha256')
  let bytes = 0
  // The callback form returns the gunzip stream; a failure of the body destroys it, so iterating it throws.
  const decoded: Readable = isGzip(info) ? chain(body, createGunzip({ chunkSize: STREAM_CHUNK_BYTES }), () => {}) : body
  try {
    for await (const chunk of decoded as AsyncIterable<Buffer>) {
      bytes += chunk.length
      if (stated !== undefined && bytes > stated) throw tooLarge(ref, info)
      hash.update(chunk)
      yield chunk
    }
  } catch (err) {
    throw decodeFailure(err, ref, info)
  } finally {
    decoded.destroy()
    body.destroy()
  }
  checkDecoded(ref, info, hash.digest('hex'), bytes)
}

/** An error met while decoding the object's body, as the ContentMismatchError it means when it means one. */
export function decodeFailure(err: unknown, ref: ContentRef, info: ObjectInfo): unknown {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(ref, info)
  if (isGzip(info) && typeof code === 'string' && code.startsWith('Z_')) {
    return new ContentMismatchError(`${where(ref)} does not decode as the gzip its metadata says it is (${(err as Error).message})`)
  }
  return err
}

/** Throws ContentMismatchError unless the decoded content (`digest`, `bytes`) is what the key and the `size` metadata say. */
export function checkDecoded(ref: ContentRef, info: ObjectInfo, digest: string, bytes: number): void {
  if (digest !== ref.sha256) {
    throw new ContentMismatchError(`${where(ref)} hashes to ${digest}, not ${ref.sha256}: content is not what its key says`)
  }
  const stated = statedSize(info)
  if (stated !== undefined && stated !== bytes) {
    throw new ContentMismatchError(`${where(ref)} decodes to ${bytes} bytes, not the ${stated} of its metadata`)
  }
}

function tooLarge(ref: ContentRef, info: ObjectInfo): ContentMismatchError {
  return new ContentMismatchError(`${where(ref)} decodes to more than the ${info.metadata.size} bytes of its metadata`)
}

function where(ref: ContentRef): string {
  return `${ref.key}${ref.versionId !== undefined ? ` (version ${ref.versionId})` : ''}`
}
