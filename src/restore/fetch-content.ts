import { createHash, type Hash } from 'node:crypto'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, gunzipSync } from 'node:zlib'
import type { ObjectInfo, Store } from '../store/store.js'
import { setLength, writeMaybeSparse } from './sparse.js'
import { sha256Of } from '../util/sha256.js'

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
  const statedSize = Number(got.info.metadata.size)
  return got.whole !== undefined && (!isGzip(got.info) || (Number.isSafeInteger(statedSize) && statedSize <= WHOLE_DECODE_BYTES)) ? got.whole : undefined
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
      const data = gzip ? gunzipSync(whole, { maxOutputLength: WHOLE_DECODE_LIMIT }) : whole
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

/** An error met while decoding the object's body, as the ContentMismatchError it means when it means one. */
export function decodeFailure(err: unknown, ref: ContentRef, info: ObjectInfo): unknown {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ERR_BUFFER_TOO_LARGE') {
    return new ContentMismatchError(`${where(ref)} decodes to more than the ${info.metadata.size} bytes of its metadata`)
  }
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

function where(ref: ContentRef): string {
  return `${ref.key}${ref.versionId !== undefined ? ` (version ${ref.versionId})` : ''}`
}
