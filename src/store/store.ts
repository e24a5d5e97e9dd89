/**
 * The storage interface every later stage is built on: a versioned,
 * Object-Locked key/value store with S3's semantics. Two implementations
 * exist, S3Store (s3-store.ts) and LocalStore (local-store.ts); openStore
 * (open-store.ts) picks one from the configuration.
 *
 * Shared rules of every method:
 * - Keys are S3 keys (`content/<sha256>`, `snapshots/<host>/…`,
 *   `manifests/<host>/…`); the store never rewrites them.
 * - Nothing is ever deleted and no retention is ever shortened through this
 *   interface (design invariant 4). There is no delete method.
 * - Every request sent is counted in `requests` under its S3 API name, retries
 *   included, so pricing.ts can estimate the bill; LocalStore counts what S3
 *   would have been sent for the same calls.
 * - Errors are one-line `StoreError`s (`PutObject s3://b/content/ab…:
 *   AccessDenied: …`). Failures that no retry or later item can fix (access
 *   denied, missing bucket, bad credentials, a bucket without Object Lock) are
 *   `StoreFatalError`, a FatalError: the run stops with exit status 3.
 *   Transient failures are retried inside the store (see aws/client-settings.ts)
 *   before anything is thrown.
 */
import type { Readable } from 'node:stream'
import type { RequestCounter } from './request-counter.js'

/** S3 Object Lock retention mode. COMPLIANCE cannot be lifted by anyone; GOVERNANCE only with a special permission. */
export type LockMode = 'GOVERNANCE' | 'COMPLIANCE'

export const LOCK_MODES: readonly LockMode[] = ['GOVERNANCE', 'COMPLIANCE']

/** One version of one key, as a listing reports it. */
export interface VersionInfo {
  key: string
  versionId: string
  /** Size in bytes of the stored body (after any content encoding). */
  size: number
  lastModified: Date
  /** True for the newest version of its key. */
  isLatest: boolean
  /**
   * The version's ETag, quotes removed, when the listing reports one (S3
   * does; LocalStore does not). Two versions with the same ETag hold the same
   * bytes (an MD5, or for a multipart upload an MD5 of part MD5s).
   */
  etag?: string
}

/** The newest version of a key, as ListObjectsV2 reports it. */
export interface LatestInfo {
  key: string
  size: number
  lastModified: Date
}

/** A version's body in a file on this machine (Store.bodyFile). */
export interface BodyFile {
  info: ObjectInfo
  /** The file, holding exactly the body as stored. */
  path: string
  /** The body's size in bytes, from its metadata. */
  size: number
  /**
   * The NotFoundError get() would have thrown, for a reader that finds no
   * file at `path` (a store damaged by hand: the metadata is written after
   * the body, so a version's body is there once its metadata is).
   */
  missing(): Error
}

/** Everything a HeadObject tells about one version. */
export interface ObjectInfo {
  key: string
  versionId: string
  /** Size in bytes of the stored body (after any content encoding). */
  size: number
  lastModified: Date
  /** User metadata; keys are lower-case (S3 lower-cases them). */
  metadata: Record<string, string>
  /** e.g. `gzip` when the body is gzip-compressed. */
  contentEncoding?: string
  contentType?: string
  /** Absent when the version carries no retention. */
  lockMode?: LockMode
  retainUntil?: Date
}

/** What a version is written with. Both lock fields are required: S3 needs them together. */
export interface PutOptions {
  lockMode: LockMode
  retainUntil: Date
  /**
   * User metadata. Keys: lower-case letters, digits, `-`, `_` and `.`;
   * values: printable ASCII (encode anything else, e.g. percent-encoding);
   * keys plus values at most 2048 bytes (S3's limit). Anything else is
   * refused with StoreError code `InvalidMetadata` before a request is sent.
   */
  metadata?: Record<string, string>
  /** Recorded as the object's Content-Encoding (`gzip`); the body is stored as given. */
  contentEncoding?: string
  /** Default `application/octet-stream`. */
  contentType?: string
}

export interface PutStreamOptions extends PutOptions {
  /**
   * Called once, after the whole body has been read and every part stored,
   * before the object becomes visible. Returning false abandons the upload:
   * no version is created, nothing is left behind (S3: the multipart upload
   * is aborted) and putStream returns null. This is how the uploader refuses
   * to store content under a key it turned out not to hash to.
   */
  beforeComplete?: () => Promise<boolean>
  /**
   * Aborting it stops the upload at the next chunk or part boundary (and
   * any request in flight), abandons it as above, and rejects with the
   * signal's reason.
   */
  signal?: AbortSignal
}

/** The retention of one version, as the store reports it. Both absent: no retention. */
export interface Retention {
  mode?: LockMode
  retainUntil?: Date
}

/**
 * A versioned, Object-Locked object store.
 *
 * Request cost is stated per method in S3 API calls; pricing.ts turns the
 * counts into dollars.
 */
export interface Store {
  /**
   * Stable identity of the bucket or directory, as messages and headers
   * name it: `s3:BUCKET` on AWS, `s3:BUCKET@ENDPOINT` on another endpoint,
   * `file:/ABSOLUTE/DIR` for a local store.
   */
  readonly id: string
  /**
   * Identity of what the store holds, for keying local caches of it: `id`
   * for a bucket, whose locked versions nobody can remove; `id#INSTANCE`
   * for a local store, INSTANCE naming the store its directory holds, so
   * another store at the same path (a backup disk rotated, a store
   * deleted and made again) never inherits the caches of the first.
   */
  readonly cacheId: string
  /** Every request sent so far, by S3 API name (retries included). */
  readonly requests: RequestCounter

  /**
   * Every version of every key starting with `prefix` (a plain string
   * prefix, not a directory), delete markers excluded, in S3 order: keys in
   * UTF-8 byte order, the versions of one key newest first. One item per
   * listing page (at most 1000 versions; pages left empty by excluded delete
   * markers are skipped).
   * Cost: one ListObjectVersions per page, at least one.
   */
  listVersions(prefix: string): AsyncIterable<VersionInfo[]>

  /**
   * The newest version of every key starting with `prefix`, in key order,
   * one item per page of at most 1000 keys.
   * Cost: one ListObjectsV2 per page, at least one.
   */
  listLatest(prefix: string): AsyncIterable<LatestInfo[]>

  /**
   * What is known about a version (the newest when `versionId` is omitted),
   * or null when the key or version does not exist.
   * Cost: one HeadObject.
   */
  head(key: string, versionId?: string): Promise<ObjectInfo | null>

  /**
   * A version's body exactly as stored (still gzip-compressed when
   * contentEncoding says so) and its info. Throws NotFoundError when the key
   * or version does not exist. The caller must consume or destroy the body.
   * `whole`, when present, is the entire body already in memory (both
   * stores give bodies of up to WHOLE_BODY_BYTES, 1 MiB, whole-body.ts:
   * LocalStore reads them at once, S3Store downloads them, resumed as
   * below, before it answers); `body` then yields exactly those bytes, is
   * made only when read (a stream per file costs more than a small file's
   * restore does), and needs no destroy when it was never read. `whole` is
   * the caller's: it may be moved to another thread (detached).
   * A body cut off in transit is resumed (S3Store: a ranged GetObject of
   * the same version, up to 5 times) before the reader sees an error.
   * Cost: one GetObject (and one per resume).
   */
  get(key: string, versionId?: string): Promise<{ info: ObjectInfo, body: Readable, whole?: Buffer }>

  /**
   * For a store on this machine (LocalStore): a version's body as the file
   * that holds it, for a reader in another thread (a restore's decode
   * worker reads and decodes it there, off the calling thread), when
   * `wanted(info)` says so and the body is at most WHOLE_BODY_BYTES; else
   * undefined, and get() is the way. Throws NotFoundError as get() does.
   * Cost: one GetObject when it answers a file, none otherwise. Stores
   * elsewhere (S3Store) do not have it.
   */
  bodyFile?(key: string, versionId: string | undefined, wanted: (info: ObjectInfo) => boolean): Promise<BodyFile | undefined>

  /**
   * Stores `body` as a new version of `key`, with the given retention,
   * metadata and encoding, in one request carrying the body's SHA-256 so the
   * store rejects a corrupted transfer. Returns the new version's id.
   * Cost: one PutObject.
   */
  putBuffer(key: string, body: Buffer, opts: PutOptions): Promise<{ versionId: string }>

  /**
   * Stores a body of unknown length as a new version of `key`, reading it
   * with bounded memory: S3Store holds at most `partSize × concurrency`
   * bytes plus one input chunk (see S3StoreOptions; parts double in size
   * after every 1000, parts.ts), LocalStore one chunk. A body that fits in one
   * part is sent as a single PutObject; a larger one as a multipart upload
   * with a SHA-256 per part. `beforeComplete` is awaited once the whole body
   * is stored but before it becomes visible; false abandons it (returns
   * null, leaves nothing behind). On any error the partial upload is
   * abandoned too, and the error thrown. A completed version is confirmed to
   * carry the requested retention, which is applied afterwards if the store
   * ignored it on a multipart upload (moto does; so may S3-compatible stores).
   * Cost: one PutObject when the body fits in one part; otherwise
   * CreateMultipartUpload + one UploadPart per part + CompleteMultipartUpload
   * + HeadObject (+ PutObjectRetention when the lock had to be applied);
   * an abandoned multipart upload costs an AbortMultipartUpload instead of
   * the last three.
   */
  putStream(key: string, body: AsyncIterable<Buffer>, opts: PutStreamOptions): Promise<{ versionId: string } | null>

  /**
   * Makes a version retained until `retainUntil`, in `mode` — or in
   * COMPLIANCE when it already is (S3 allows no change from COMPLIANCE to
   * GOVERNANCE). Never shortens: when the store knows the version's current
   * retention (it wrote or read it in this process; LocalStore always), an
   * earlier date throws StoreError `WouldShortenRetention` and an unchanged
   * one costs nothing. Where it does not know, S3 itself refuses to shorten
   * (the store never sends the governance bypass); when S3 refuses, the
   * store looks at the version again and succeeds if it is already retained
   * long enough (another machine sharing the content may have extended it).
   * Throws NotFoundError when the version does not exist.
   * Cost: one PutObjectRetention, none when nothing would change; after a
   * refusal, one HeadObject (and another PutObjectRetention in COMPLIANCE
   * mode when that is what the version turned out to be in).
   */
  extendRetention(key: string, versionId: string, mode: LockMode, retainUntil: Date): Promise<void>

  /**
   * A version's current retention. Throws NotFoundError when the version does
   * not exist.
   * Cost: one GetObjectRetention; against a store that lacks that call
   * (moto) one HeadObject instead, after the first failed attempt.
   */
  getRetention(key: string, versionId: string): Promise<Retention>

  /**
   * Makes every version written so far durable (by any process), for
   * stores that batch durability (LocalStore); absent where each write is
   * durable when it returns (S3). Call it before anything that refers to
   * those versions is written: a manifest, a cache.
   * Cost: no request.
   */
  makeDurable?(): Promise<void>
}
