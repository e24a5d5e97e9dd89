import { createHash } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { Writable } from 'node:stream'
import { NotFoundError } from '../store/errors.js'
import type { Store } from '../store/store.js'

/** What a version's bytes hash to. */
export interface VersionDigest {
  /** SHA-256 (hex) of the bytes as stored. */
  stored: string
  /** SHA-256 (hex) of the bytes decoded (gunzipped when the version's Content-Encoding is gzip); null when they do not decode. */
  decoded: string | null
  /** Why they do not decode, when they do not. */
  decodeError?: string
  storedBytes: number
}

/**
 * Downloads one version and hashes it as it streams, both as stored and
 * decoded, in constant memory. Returns null when the version does not exist.
 * Cost: one GetObject (needs the restore role's permission on content/ and snapshots/).
 */
export async function hashVersion(store: Store, key: string, versionId: string): Promise<VersionDigest | null> {
  let got
  try {
    got = await store.get(key, versionId)
  } catch (err) {
    if (err instanceof NotFoundError) return null
    throw err
  }
  const stored = createHash('sha256')
  const decoded = createHash('sha256')
  let storedBytes = 0
  const gzip = got.info.contentEncoding === 'gzip'
  const sink = () => new Writable({ write(chunk: Buffer, _enc, done) { decoded.update(chunk); done() } })
  const tap = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      stored.update(chunk)
      storedBytes += chunk.length
      yield chunk
    }
  }
  let decodeError: string | undefined
  try {
    if (gzip) await pipeline(got.body, tap, createGunzip(), sink())
    else await pipeline(got.body, tap, sink())
  } catch (err) {
    if (!gzip || typeof (err as NodeJS.ErrnoException).code !== 'string' || !(err as NodeJS.ErrnoException).code!.startsWith('Z_')) throw err
    decodeError = `not valid gzip: ${(err as Error).message}`
  }
  return {
    stored: stored.digest('hex'),
    decoded: decodeError === undefined ? decoded.digest('hex') : null,
    ...(decodeError !== undefined && { decodeError }),
    storedBytes,
  }
}
