/**
 * The Store on S3 (or an S3-compatible endpoint), through the AWS SDK v3.
 * Contracts are in store.ts; this file adds what is specific to S3:
 *
 * - Integrity: every body goes with its SHA-256 (ChecksumSHA256; per part
 *   for multipart uploads), which S3 verifies before storing, and GetObject
 *   verifies it again on the way back (the SDK's default checksum mode).
 * - Object Lock: writes first confirm, once per bucket and process, that
 *   the bucket has Object Lock enabled (GetObjectLockConfiguration), and fail
 *   with StoreFatalError `ObjectLockNotEnabled` when not.
 * - Retention knowledge: the lock of every version this process wrote or
 *   read is remembered (up to RETENTION_MEMORY versions), which is how
 *   extendRetention refuses to shorten without spending a request.
 * - Requests are counted per HTTP attempt by a middleware on the client.
 */
import type { CompletedPart, HeadObjectCommandOutput, S3Client } from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'
import { NotFoundError, StoreError, StoreFatalError, storeErrorCode } from './errors.js'
import { DEFAULT_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, PartReader, partSizeFor } from './parts.js'
import { RequestCounter } from './request-counter.js'
import { readResumingBody, resumingBody } from './resuming-body.js'
import { fromSdkError, sdkErrorCode, sdkHttpStatus } from './s3-errors.js'
import type { LatestInfo, LockMode, ObjectInfo, PutOptions, PutStreamOptions, Retention, Store, VersionInfo } from './store.js'
import { checkKey, checkPutOptions, retains, retentionChange } from './validate.js'
import { WHOLE_BODY_BYTES, WholeBody } from './whole-body.js'
import { s3Sdk } from '../aws/s3-sdk.js'
import { sha256Of } from '../util/sha256.js'

const {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand,
  GetObjectLockConfigurationCommand, GetObjectRetentionCommand, HeadBucketCommand, HeadObjectCommand,
  ListObjectsV2Command, ListObjectVersionsCommand, PutObjectCommand, PutObjectRetentionCommand, UploadPartCommand,
} = s3Sdk

export interface S3StoreOptions {
  bucket: string
  /** A client of its own: the store adds its request-counting middleware to it. */
  client: S3Client
  /** The custom endpoint in use, if any (part of the store's id). */
  endpoint?: string
  /** Size of multipart-upload parts in bytes (default 8 MiB, at least 5 MiB: S3's minimum). */
  partSize?: number
  /** Parts uploaded at once (default 4). putStream buffers at most partSize × concurrency bytes. */
  concurrency?: number
  /** Versions or keys per listing page (default and S3's maximum: 1000). Smaller only for tests. */
  pageSize?: number
  /** The clock retain-until dates are checked against (default: the system clock). */
  clock?: () => Date
}

export const DEFAULT_PART_CONCURRENCY = 4
/** Versions whose retention a store remembers (about 100 bytes each). */
const RETENTION_MEMORY = 200_000

/** Object Lock checks already passed in this process, by store id. */
const lockChecked = new Map<string, Promise<void>>()

export class S3Store implements Store {
  readonly id: string
  get cacheId(): string {
    return this.id
  }
  readonly requests = new RequestCounter()
  readonly bucket: string
  readonly client: S3Client
  readonly partSize: number
  readonly concurrency: number
  private readonly pageSize: number
  private readonly clock: () => Date
  private readonly known = new Map<string, Retention>()
  /** Set once GetObjectRetention turned out not to work here (moto). */
  private retentionByHead = false
  private bucketConfirmed: Promise<void> | undefined

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket
    this.client = opts.client
    this.id = opts.endpoint === undefined ? `s3:${opts.bucket}` : `s3:${opts.bucket}@${opts.endpoint}`
    this.partSize = opts.partSize ?? DEFAULT_PART_SIZE
    if (this.partSize < MIN_PART_SIZE) throw new RangeError(`part size ${this.partSize} is below S3's minimum of ${MIN_PART_SIZE} bytes`)
    this.concurrency = opts.concurrency ?? DEFAULT_PART_CONCURRENCY
    if (this.concurrency < 1) throw new RangeError('concurrency must be at least 1')
    this.pageSize = opts.pageSize ?? 1000
    this.clock = opts.clock ?? (() => new Date())
    this.installCounter()
  }

  /** Counts each HTTP attempt: the deserialize step runs once per attempt, inside the retry loop. */
  private installCounter(): void {
    const requests = this.requests
    const attempts = new WeakMap<object, number>()
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const n = (attempts.get(context) ?? 0) + 1
        attempts.set(context, n)
        if (n > 1) requests.retries++
        requests.add((context.commandName ?? 'Unknown').replace(/Command$/, ''))
        return next(args)
      },
      { step: 'deserialize', name: 's3SysbackupRequestCounter', override: true },
    )
  }

  private location(key?: string): string {
    return key === undefined ? `s3://${this.bucket}` : `s3://${this.bucket}/${key}`
  }

  private remember(key: string, versionId: string, retention: Retention): void {
    const id = `${key}\0${versionId}`
    this.known.delete(id)
    this.known.set(id, retention)
    if (this.known.size > RETENTION_MEMORY) this.known.delete(this.known.keys().next().value!)
  }

  /**
   * Confirms the bucket has Object Lock enabled: one GetObjectLockConfiguration
   * per bucket and process. Every write waits for it; openStore calls it
   * when a command opens the store for writing, so it fails before work starts.
   */
  async checkObjectLock(): Promise<void> {
    let check = lockChecked.get(this.id)
    if (check === undefined) {
      check = this.fetchObjectLock()
      lockChecked.set(this.id, check)
      check.catch(() => lockChecked.delete(this.id))
    }
    return check
  }

  private async fetchObjectLock(): Promise<void> {
    const op = 'GetObjectLockConfiguration'
    let enabled: string | undefined
    try {
      const res = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket }))
      enabled = res.ObjectLockConfiguration?.ObjectLockEnabled
    } catch (err) {
      if (sdkErrorCode(err) !== 'ObjectLockConfigurationNotFoundError') throw fromSdkError(op, this.location(), err)
    }
    if (enabled !== 'Enabled') {
      throw new StoreFatalError(op, this.location(), 'ObjectLockNotEnabled',
        `bucket ${this.bucket} does not have Object Lock enabled; s3-sysbackup stores only into a bucket created with Object Lock (see s3-sysbackup create-resources)`)
    }
  }

  /** After a 404 on HEAD (which has no error code), tells a missing bucket from a missing key. One HeadBucket per store. */
  private async confirmBucket(): Promise<void> {
    this.bucketConfirmed ??= (async () => {
      try {
        await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }))
      } catch (err) {
        const status = sdkHttpStatus(err)
        if (status === 404) throw new StoreFatalError('HeadBucket', this.location(), 'NoSuchBucket', `bucket ${this.bucket} does not exist`, { cause: err })
        throw fromSdkError('HeadBucket', this.location(), err)
      }
    })()
    return this.bucketConfirmed
  }

  async *listVersions(prefix: string): AsyncIterable<VersionInfo[]> {
    let keyMarker: string | undefined
    let versionIdMarker: string | undefined
    for (;;) {
      let res
      try {
        // Both markers always go together: moto (and the API's own rules) mis-page with KeyMarker alone.
        res = await this.client.send(new ListObjectVersionsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: this.pageSize,
          ...(keyMarker !== undefined && { KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
        }))
      } catch (err) {
        throw fromSdkError('ListObjectVersions', this.location(prefix), err)
      }
      const page: VersionInfo[] = (res.Versions ?? []).map((v) => ({
        key: v.Key!,
        versionId: v.VersionId ?? 'null',
        size: v.Size ?? 0,
        lastModified: v.LastModified ?? new Date(0),
        isLatest: v.IsLatest === true,
        ...(v.ETag !== undefined && { etag: v.ETag.replace(/"/g, '') }),
      }))
      if (page.length > 0) yield page
      if (res.IsTruncated !== true) return
      if (res.NextKeyMarker === undefined) {
        throw new StoreError('ListObjectVersions', this.location(prefix), 'BadListing', 'a truncated listing came without NextKeyMarker')
      }
      keyMarker = res.NextKeyMarker
      versionIdMarker = res.NextVersionIdMarker
    }
  }

  async *listLatest(prefix: string): AsyncIterable<LatestInfo[]> {
    let token: string | undefined
    for (;;) {
      let res
      try {
        res = await this.client.send(new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: this.pageSize,
          ...(token !== undefined && { ContinuationToken: token }),
        }))
      } catch (err) {
        throw fromSdkError('ListObjectsV2', this.location(prefix), err)
      }
      const page: LatestInfo[] = (res.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }))
      if (page.length > 0) yield page
      if (res.IsTruncated !== true) return
      if (res.NextContinuationToken === undefined) {
        throw new StoreError('ListObjectsV2', this.location(prefix), 'BadListing', 'a truncated listing came without NextContinuationToken')
      }
      token = res.NextContinuationToken
    }
  }

  async head(key: string, versionId?: string): Promise<ObjectInfo | null> {
    checkKey('HeadObject', this.location(key), key)
    let res: HeadObjectCommandOutput
    try {
      res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ...(versionId !== undefined && { VersionId: versionId }) }))
    } catch (err) {
      const status = sdkHttpStatus(err)
      // 405: the version is a delete marker — no object there either.
      if (status === 404 || status === 405) {
        if (status === 404) await this.confirmBucket()
        return null
      }
      throw fromSdkError('HeadObject', this.location(key), err)
    }
    return this.infoOf(key, res)
  }

  private infoOf(key: string, res: Omit<HeadObjectCommandOutput, '$metadata'>): ObjectInfo {
    const info: ObjectInfo = {
      key,
      versionId: res.VersionId ?? 'null',
      size: res.ContentLength ?? 0,
      lastModified: res.LastModified ?? new Date(0),
      metadata: { ...res.Metadata },
    }
    if (res.ContentEncoding) info.contentEncoding = res.ContentEncoding
    if (res.ContentType) info.contentType = res.ContentType
    if (res.ObjectLockMode === 'GOVERNANCE' || res.ObjectLockMode === 'COMPLIANCE') info.lockMode = res.ObjectLockMode
    if (res.ObjectLockRetainUntilDate) info.retainUntil = new Date(res.ObjectLockRetainUntilDate)
    this.remember(key, info.versionId, { ...(info.lockMode && { mode: info.lockMode }), ...(info.retainUntil && { retainUntil: info.retainUntil }) })
    return info
  }

  async get(key: string, versionId?: string): Promise<{ info: ObjectInfo, body: Readable, whole?: Buffer }> {
    checkKey('GetObject', this.location(key), key)
    let info: ObjectInfo
    let first: Readable
    let rest: (offset: number) => Promise<Readable>
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(versionId !== undefined && { VersionId: versionId }) }))
      info = this.infoOf(key, res)
      first = res.Body as Readable
      // A body cut off after the headers is resumed from where it broke, from the same version.
      rest = async (offset: number) => {
        try {
          const more = await this.client.send(new GetObjectCommand({
            Bucket: this.bucket, Key: key, VersionId: info.versionId, Range: `bytes=${offset}-`, ...(res.ETag !== undefined && { IfMatch: res.ETag }),
          }))
          return more.Body as Readable
        } catch (err) {
          throw fromSdkError('GetObject', this.location(key), err)
        }
      }
    } catch (err) {
      if (sdkHttpStatus(err) === 405) throw new NotFoundError('GetObject', this.location(key), 'NoSuchVersion', 'the version is a delete marker', { cause: err })
      throw fromSdkError('GetObject', this.location(key), err)
    }
    // A small body is downloaded before the answer (its errors are the
    // body's, as when it streams): a reader then decodes it in one call, or
    // hands it to another thread, where a stream pipeline per file cost a
    // restore's main thread more than the file's bytes.
    if (info.size <= WHOLE_BODY_BYTES) return new WholeBody(info, await readResumingBody(first, info.size, rest))
    return { info, body: resumingBody(first, info.size, rest) }
  }

  async putBuffer(key: string, body: Buffer, opts: PutOptions): Promise<{ versionId: string }> {
    checkKey('PutObject', this.location(key), key)
    checkPutOptions('PutObject', this.location(key), opts, this.clock())
    await this.checkObjectLock()
    return this.putObject(key, body, opts)
  }

  private async putObject(key: string, body: Buffer, opts: PutOptions, signal?: AbortSignal): Promise<{ versionId: string }> {
    let versionId: string | undefined
    try {
      const res = await this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: sha256Base64(body),
        ...objectAttributes(opts),
      }), signal ? { abortSignal: signal } : {})
      versionId = res.VersionId
    } catch (err) {
      throw fromSdkError('PutObject', this.location(key), err)
    }
    if (versionId === undefined) throw this.unversioned('PutObject', key)
    this.remember(key, versionId, { mode: opts.lockMode, retainUntil: opts.retainUntil })
    return { versionId }
  }

  private unversioned(op: string, key: string): StoreFatalError {
    return new StoreFatalError(op, this.location(key), 'NoVersionId', `bucket ${this.bucket} returned no version id: it is not versioned, so it cannot be Object Locked`)
  }

  async putStream(key: string, body: AsyncIterable<Buffer>, opts: PutStreamOptions): Promise<{ versionId: string } | null> {
    checkKey('PutObject', this.location(key), key)
    checkPutOptions('PutObject', this.location(key), opts, this.clock())
    opts.signal?.throwIfAborted()
    const reader = new PartReader(body)
    try {
      await this.checkObjectLock()
      const first = (await reader.read(partSizeFor(1, this.partSize)))!
      if (await reader.atEnd()) {
        // Fits in one part: one PutObject instead of at least four requests.
        if (opts.beforeComplete && !(await opts.beforeComplete())) return null
        return await this.putObject(key, first, opts, opts.signal)
      }
      return await this.multipart(key, first, reader, opts)
    } catch (err) {
      // An aborted request surfaces as the SDK's AbortError; the caller asked for its own reason.
      if (opts.signal?.aborted) throw opts.signal.reason
      throw err
    } finally {
      await reader.close()
    }
  }

  private async multipart(key: string, first: Buffer, reader: PartReader, opts: PutStreamOptions): Promise<{ versionId: string } | null> {
    const location = this.location(key)
    const signal = opts.signal
    let uploadId: string
    try {
      const res = await this.client.send(new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        ChecksumAlgorithm: 'SHA256',
        ...objectAttributes(opts),
      }), signal ? { abortSignal: signal } : {})
      if (res.UploadId === undefined) throw new StoreError('CreateMultipartUpload', location, 'NoUploadId', 'no upload id in the answer')
      uploadId = res.UploadId
    } catch (err) {
      throw fromSdkError('CreateMultipartUpload', location, err)
    }

    const parts: CompletedPart[] = []
    const inFlight = new Set<Promise<void>>()
    let failure: unknown
    const upload = async (partNumber: number, data: Buffer): Promise<void> => {
      const checksum = sha256Base64(data)
      try {
        const res = await this.client.send(new UploadPartCommand({
          Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber,
          Body: data, ContentLength: data.length, ChecksumAlgorithm: 'SHA256', ChecksumSHA256: checksum,
        }), signal ? { abortSignal: signal } : {})
        parts[partNumber - 1] = { PartNumber: partNumber, ETag: res.ETag!, ChecksumSHA256: checksum }
      } catch (err) {
        failure ??= fromSdkError('UploadPart', `${location} part ${partNumber}`, err)
        throw failure
      }
    }

    try {
      let partNumber = 1
      let data: Buffer | null = first
      while (data !== null) {
        signal?.throwIfAborted()
        const p = upload(partNumber, data).finally(() => inFlight.delete(p))
        p.catch(() => {})
        inFlight.add(p)
        data = null
        // The part being filled holds a slot too: at most `concurrency` parts in memory.
        while (inFlight.size >= this.concurrency && failure === undefined) await Promise.race(inFlight).catch(() => {})
        if (failure !== undefined) throw failure
        partNumber++
        data = await reader.read(partSizeFor(partNumber, this.partSize))
        if (data !== null && partNumber > MAX_PARTS) {
          throw new StoreError('UploadPart', location, 'TooManyParts', `the body needs more than ${MAX_PARTS} parts; raise the part size`)
        }
      }
      await Promise.all(inFlight)
      if (opts.beforeComplete && !(await opts.beforeComplete())) {
        await this.abort(key, uploadId)
        return null
      }
      signal?.throwIfAborted()
      let versionId: string | undefined
      try {
        const res = await this.client.send(new CompleteMultipartUploadCommand({
          Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts },
        }), signal ? { abortSignal: signal } : {})
        versionId = res.VersionId
      } catch (err) {
        throw fromSdkError('CompleteMultipartUpload', location, err)
      }
      if (versionId === undefined) throw this.unversioned('CompleteMultipartUpload', key)
      await this.confirmLock(key, versionId, opts.lockMode, opts.retainUntil)
      return { versionId }
    } catch (err) {
      await Promise.allSettled(inFlight)
      await this.abort(key, uploadId)
      throw err
    }
  }

  /**
   * Abandons a multipart upload so its parts are not kept (and billed).
   * Best effort: a failure here must not hide the error that caused it.
   */
  private async abort(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
    } catch {
      // A bucket lifecycle rule for incomplete uploads is the backstop.
    }
  }

  /**
   * Makes sure a version completed by multipart upload carries its lock:
   * S3 applies CreateMultipartUpload's, but moto and some S3-compatible
   * stores do not, so it is checked and applied when missing or short.
   */
  private async confirmLock(key: string, versionId: string, mode: LockMode, retainUntil: Date): Promise<void> {
    const info = await this.head(key, versionId)
    if (info === null) throw new StoreError('HeadObject', this.location(key), 'NoSuchVersion', `version ${versionId} vanished right after upload`)
    if (retains({ ...(info.lockMode && { mode: info.lockMode }), ...(info.retainUntil && { retainUntil: info.retainUntil }) }, mode, retainUntil)) return
    await this.sendRetention(key, versionId, mode, retainUntil)
  }

  async extendRetention(key: string, versionId: string, mode: LockMode, retainUntil: Date): Promise<void> {
    const location = this.location(key)
    checkKey('PutObjectRetention', location, key)
    const current = this.known.get(`${key}\0${versionId}`)
    const send = current === undefined ? mode : retentionChange('PutObjectRetention', location, versionId, current, mode, retainUntil)
    if (send === null) return
    try {
      await this.sendRetention(key, versionId, send, retainUntil)
    } catch (err) {
      if (storeErrorCode(err) !== 'AccessDenied') throw err
      // S3 refuses to shorten retention or to leave COMPLIANCE. What this process knew may be
      // stale (content is shared between machines, which extend it too): look again.
      const now = await this.head(key, versionId)
      if (now === null) throw err
      const actual: Retention = { ...(now.lockMode && { mode: now.lockMode }), ...(now.retainUntil && { retainUntil: now.retainUntil }) }
      if (retains(actual, mode, retainUntil)) return
      const retry = retentionChange('PutObjectRetention', location, versionId, actual, mode, retainUntil)
      if (retry === null || retry === send) throw err
      await this.sendRetention(key, versionId, retry, retainUntil)
    }
  }

  private async sendRetention(key: string, versionId: string, mode: LockMode, retainUntil: Date): Promise<void> {
    try {
      await this.client.send(new PutObjectRetentionCommand({
        Bucket: this.bucket, Key: key, VersionId: versionId,
        Retention: { Mode: mode, RetainUntilDate: retainUntil },
        // PutObjectRetention requires an integrity header; SHA-256 of the small XML body is computed by the SDK.
        ChecksumAlgorithm: 'SHA256',
      }))
    } catch (err) {
      throw fromSdkError('PutObjectRetention', this.location(key), err)
    }
    this.remember(key, versionId, { mode, retainUntil })
  }

  async getRetention(key: string, versionId: string): Promise<Retention> {
    checkKey('GetObjectRetention', this.location(key), key)
    if (!this.retentionByHead) {
      try {
        const res = await this.client.send(new GetObjectRetentionCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }))
        const retention: Retention = {}
        if (res.Retention?.Mode) retention.mode = res.Retention.Mode as LockMode
        if (res.Retention?.RetainUntilDate) retention.retainUntil = new Date(res.Retention.RetainUntilDate)
        this.remember(key, versionId, retention)
        return retention
      } catch (err) {
        const code = sdkErrorCode(err)
        if (code === 'NoSuchObjectLockConfiguration') {
          this.remember(key, versionId, {})
          return {}
        }
        // moto answers GetObjectRetention as if it were GetObject: HTTP 200 that is not XML.
        if (!(sdkHttpStatus(err) === 200 || code === 'NotImplemented')) throw fromSdkError('GetObjectRetention', this.location(key), err)
        this.retentionByHead = true
      }
    }
    const info = await this.head(key, versionId)
    if (info === null) throw new NotFoundError('GetObjectRetention', this.location(key), 'NoSuchVersion', `no version ${versionId}`)
    return { ...(info.lockMode && { mode: info.lockMode }), ...(info.retainUntil && { retainUntil: info.retainUntil }) }
  }
}

function objectAttributes(opts: PutOptions) {
  return {
    // Never one lock header without the other: moto stores a half lock and fails later.
    ObjectLockMode: opts.lockMode,
    ObjectLockRetainUntilDate: opts.retainUntil,
    ContentType: opts.contentType ?? 'application/octet-stream',
    ...(opts.contentEncoding !== undefined && { ContentEncoding: opts.contentEncoding }),
    ...(opts.metadata !== undefined && { Metadata: opts.metadata }),
  }
}

function sha256Base64(data: Buffer): string {
  return sha256Of(data, 'base64')
}
