/**
 * The Store in a local directory: same keys, versions, metadata, lock mode
 * and retain-until as S3, so everything works offline and in the demo.
 * Contracts are in store.ts.
 *
 * On-disk layout (also in s3-sysbackup.conf(5)):
 *
 *   DIR/.s3-sysbackup-store            marker: this directory is a store, and
 *                                      which one (its random instance, which
 *                                      keys the state directory's caches)
 *   DIR/<key>/<versionId>              the bytes exactly as S3 would hold them
 *                                      (gzip when encoded, so
 *                                      `gunzip < DIR/content/<sha>/<version>`
 *                                      restores a file by hand); mode 0444
 *   DIR/<key>/<versionId>.json         the version's metadata, encoding, lock
 *                                      mode, retain-until, size and SHA-256
 *
 * Version ids are the UTC write time and a sequence number,
 * `YYYYMMDDThhmmss.mmmZ-NNNN`, so they sort by age: the greatest is the
 * latest, and a listing needs no stat to date a version. Key segments must
 * not start with `.` (temporary files and the marker do) nor look like a
 * version id; anything else S3 allows is fine.
 *
 * Writes are atomic. A put of a buffer writes its bytes straight into a
 * file created under a fresh version id (O_EXCL: concurrent writers get
 * distinct ids); a streamed put writes a temporary file and links it into
 * place under a fresh id (link fails rather than overwrite). Either way the
 * .json is renamed into place last: a version exists once its .json does,
 * and bytes without one (a write still going on, or a crash in between) are
 * invisible. Retention changes rewrite the .json under an
 * flock(2) on the version's bytes, so two concurrent extensions cannot lose
 * one another, and are fsynced at once.
 *
 * Durability is batched: new versions are not fsynced one by one (three
 * fsyncs per object held a first backup to about 350 objects/s), but made
 * durable together by makeDurable(), one syncfs(2) of the store's file
 * system, which the writers call before anything refers to them (upload
 * before saving its cache, the manifest stage before and after storing the
 * manifest). Until then a `.unsynced-*` journal file in DIR records the boot
 * in which they were written; a store opened in a later boot with such a
 * file left behind (the machine went down before the sync) first checks
 * every version written since, and hides any whose bytes were lost (renamed
 * to `.lost-<versionId>`), so no listing ever offers bytes that are not
 * there.
 *
 * Requests are counted under the S3 API name each call would have cost on
 * S3 (a putStream counts the multipart requests S3Store would send), so cost
 * estimates and request-count tests mean the same on both stores.
 */
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, createReadStream, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync, type Dirent } from 'node:fs'
import { mkdir, open, rename, rmdir, unlink } from 'node:fs/promises'
import { promisify } from 'node:util'
import { join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { NotFoundError, StoreError, StoreFatalError } from './errors.js'
import { DEFAULT_PART_SIZE, partCount } from './parts.js'
import { RequestCounter } from './request-counter.js'
import type { BodyFile, LatestInfo, LockMode, ObjectInfo, PutOptions, PutStreamOptions, Retention, Store, VersionInfo } from './store.js'
import { checkKey, checkPutOptions, retentionChange } from './validate.js'
import { WHOLE_BODY_BYTES, WholeBody } from './whole-body.js'
import { readStartSync } from '../util/fd-io.js'
import { flock } from '../util/flock.js'
import { sha256Of } from '../util/sha256.js'

/**
 * What names the store a directory holds, from its marker: the random
 * `instance` written when the store was made, or, in a marker made before
 * markers had one, its `createdAt` time (the same for every open of that
 * store, and another store made at the same path has another). Undefined
 * for a marker with neither (one written by hand), and for a missing store
 * opened as empty: the caches are then keyed by the path alone.
 */
function instanceOf(marker: { createdAt?: unknown, instance?: unknown } | undefined): string | undefined {
  if (typeof marker?.instance === 'string' && marker.instance !== '') return marker.instance
  if (typeof marker?.createdAt === 'string' && marker.createdAt !== '') return marker.createdAt
  return undefined
}

/** What a directory holds, as far as being a local store goes (see storeIn). */
export type DirectoryStore =
  /** Nothing yet: the directory is missing or empty, and LocalStore.open with `create` would make a store of it. */
  | { kind: 'none' }
  /** A store, named by its marker's instance (see instanceOf). */
  | { kind: 'store', instance?: string, createdAt?: string }
  /** Anything else (other files, an unreadable directory or marker): LocalStore.open refuses it. */
  | { kind: 'other' }

/**
 * The names in a store's directory, but for a marker still being written:
 * stages of one run open a new store at the same time, and another may be
 * writing the marker (its temporary file is there), or has just done so.
 */
function namesBesideMarkerTemp(dir: string): string[] {
  return readdirSync(dir).filter((name) => !name.startsWith(`${STORE_MARKER}.tmp-`))
}

/** What `dir` holds, read without opening (or creating) a store there. */
export function storeIn(dir: string): DirectoryStore {
  let names: string[]
  try {
    names = namesBesideMarkerTemp(dir)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { kind: 'none' } : { kind: 'other' }
  }
  if (names.length === 0) return { kind: 'none' }
  if (!names.includes(STORE_MARKER)) return { kind: 'other' }
  let marker: { createdAt?: unknown, instance?: unknown }
  try {
    marker = JSON.parse(readFileSync(join(dir, STORE_MARKER), 'utf8')) as typeof marker
  } catch {
    return { kind: 'other' }
  }
  const instance = instanceOf(marker)
  return {
    kind: 'store',
    ...(instance !== undefined && { instance }),
    ...(typeof marker.createdAt === 'string' && { createdAt: marker.createdAt }),
  }
}

/** Name of the marker file in a store's directory. */
export const STORE_MARKER = '.s3-sysbackup-store'
const MARKER_FORMAT = 's3-sysbackup local store'
const MARKER_VERSION = 1

const VERSION_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z-(\d{4})$/
const VERSION_FILE = /^\d{8}T\d{6}\.\d{3}Z-\d{4}(\.json)?$/
const MAX_SEQUENCE = 9999

/** What `<versionId>.json` holds. */
interface VersionMeta {
  key: string
  versionId: string
  size: number
  lastModified: string
  /** SHA-256 (hex) of the stored bytes. */
  sha256: string
  metadata: Record<string, string>
  contentEncoding?: string
  contentType: string
  lockMode: LockMode
  retainUntil: string
}

export interface LocalStoreOptions {
  /** Clock for version ids, lastModified and retention checks (default: the system clock). */
  clock?: () => Date
  /** Versions or keys per listing page (default 1000, as S3). */
  pageSize?: number
  /** Part size S3Store would use, for counting putStream's requests as S3 would (default 8 MiB). */
  partSize?: number
  /**
   * Create the directory (and its marker) when it is missing or empty.
   * Without it, opening a missing directory is an error (reading commands).
   */
  create?: boolean
  /**
   * Open a missing directory as an empty store, creating nothing (dry runs
   * of a first backup). Every read finds nothing; a write would fail.
   */
  missingIsEmpty?: boolean
}

export class LocalStore implements Store {
  readonly id: string
  /** `id#INSTANCE`, INSTANCE from the marker (see instanceOf). */
  readonly cacheId: string
  readonly requests = new RequestCounter()
  private readonly clock: () => Date
  private readonly pageSize: number
  private readonly partSize: number

  /**
   * Opens the store in `dir`. A directory holding anything but a store is
   * refused, so a mistyped path never scatters objects into it. Throws
   * StoreFatalError `NoSuchStore` or `NotAStore`.
   */
  static open(dir: string, opts: LocalStoreOptions = {}): LocalStore {
    const abs = resolve(dir)
    const where = `file:${abs}`
    if (!existsSync(abs)) {
      if (opts.missingIsEmpty && !opts.create) return new LocalStore(abs, opts)
      if (!opts.create) throw new StoreFatalError('open', where, 'NoSuchStore', `${abs} does not exist`)
      mkdirSync(abs, { recursive: true })
    }
    if (!statSync(abs).isDirectory()) throw new StoreFatalError('open', where, 'NotAStore', `${abs} is not a directory`)
    const marker = join(abs, STORE_MARKER)
    if (!existsSync(marker)) {
      const entries = namesBesideMarkerTemp(abs)
      if (opts.create && entries.length === 0) {
        const createdAt = (opts.clock ?? (() => new Date()))().toISOString()
        writeAtomicSync(marker, JSON.stringify({ format: MARKER_FORMAT, version: MARKER_VERSION, createdAt, instance: randomBytes(16).toString('hex') }) + '\n')
      } else if (!entries.includes(STORE_MARKER)) {
        throw new StoreFatalError('open', where, 'NotAStore',
          `${abs} is not an s3-sysbackup store (no ${STORE_MARKER} file)${opts.create ? ' and is not empty; refusing to write into it' : ''}`)
      }
    }
    let parsed: { format?: unknown, version?: unknown, createdAt?: unknown, instance?: unknown }
    try {
      parsed = JSON.parse(readFileSync(marker, 'utf8')) as typeof parsed
    } catch (err) {
      throw new StoreFatalError('open', where, 'NotAStore', `${marker} is not a store marker: ${(err as Error).message}`)
    }
    if (parsed.format !== MARKER_FORMAT) throw new StoreFatalError('open', where, 'NotAStore', `${marker} is not a store marker`)
    if (typeof parsed.version !== 'number' || parsed.version > MARKER_VERSION) {
      throw new StoreFatalError('open', where, 'NotAStore', `${marker}: store format version ${String(parsed.version)} is newer than this s3-sysbackup understands (${MARKER_VERSION})`)
    }
    const real = realpathSync(abs)
    if (!opts.missingIsEmpty || existsSync(real)) recoverUnsynced(real)
    return new LocalStore(real, opts, instanceOf(parsed))
  }

  /** This store's `.unsynced-*` journal file while versions it wrote await makeDurable(). */
  private unsyncedFile: string | undefined

  private constructor(readonly dir: string, opts: LocalStoreOptions, instance?: string) {
    this.id = `file:${dir}`
    this.cacheId = instance === undefined ? this.id : `${this.id}#${instance}`
    this.clock = opts.clock ?? (() => new Date())
    this.pageSize = opts.pageSize ?? 1000
    this.partSize = opts.partSize ?? DEFAULT_PART_SIZE
  }

  private location(key: string): string {
    return `${this.dir}/${key}`
  }

  /** The directory of `key`, after checking the key can live on disk. Throws StoreError `InvalidKey`. */
  private keyDir(op: string, key: string): string {
    checkKey(op, this.location(key), key)
    for (const segment of key.split('/')) {
      const problem = segmentProblem(segment)
      if (problem !== undefined) throw new StoreError(op, this.location(key), 'InvalidKey', `a local store cannot hold this key: ${problem}`)
    }
    // A key that passed is already normal (no empty or dot segments): joined
    // by hand, path.join's normalizing costs more than the rest of a small get.
    return this.dir.endsWith('/') ? this.dir + key : `${this.dir}/${key}`
  }

  async *listVersions(prefix: string): AsyncIterable<VersionInfo[]> {
    let page: VersionInfo[] = []
    let pages = 0
    for (const entry of this.walkPrefix(prefix)) {
      let latest = true
      for (const versionId of entry.versions) {
        const size = sizeOf(join(this.dir, entry.key, versionId))
        if (size === undefined) continue
        page.push({ key: entry.key, versionId, size, lastModified: dateOfVersion(versionId), isLatest: latest })
        latest = false
        if (page.length === this.pageSize) {
          this.requests.add('ListObjectVersions')
          pages++
          yield page
          page = []
        }
      }
    }
    if (page.length > 0 || pages === 0) this.requests.add('ListObjectVersions')
    if (page.length > 0) yield page
  }

  async *listLatest(prefix: string): AsyncIterable<LatestInfo[]> {
    let page: LatestInfo[] = []
    let pages = 0
    for (const entry of this.walkPrefix(prefix)) {
      const versionId = entry.versions[0]!
      const size = sizeOf(join(this.dir, entry.key, versionId))
      if (size === undefined) continue
      page.push({ key: entry.key, size, lastModified: dateOfVersion(versionId) })
      if (page.length === this.pageSize) {
        this.requests.add('ListObjectsV2')
        pages++
        yield page
        page = []
      }
    }
    if (page.length > 0 || pages === 0) this.requests.add('ListObjectsV2')
    if (page.length > 0) yield page
  }

  /**
   * Keys starting with `prefix` that have versions, in S3 order (UTF-8 byte
   * order of the whole key), reading each directory once. A directory's
   * subtree sorts as its name plus `/`, which is why a sibling such as
   * `a-b` is visited between key `a` and the keys under `a/`.
   */
  private *walkPrefix(prefix: string): Generator<{ key: string, versions: string[] }> {
    const slash = prefix.lastIndexOf('/')
    const dirPart = slash < 0 ? '' : prefix.slice(0, slash)
    const namePrefix = prefix.slice(slash + 1)
    if (dirPart !== '' && dirPart.split('/').some((s) => segmentProblem(s) !== undefined)) return
    const { subdirs } = readKeyDir(join(this.dir, dirPart))
    yield* this.walk(dirPart, subdirs.filter((name) => name.startsWith(namePrefix)))
  }

  private *walk(relDir: string, names: string[]): Generator<{ key: string, versions: string[] }> {
    const pending: { sortKey: string, rel: string, subdirs: string[] }[] = []
    for (const name of names) {
      while (pending.length > 0 && compareKeys(pending[0]!.sortKey, name) < 0) {
        const p = pending.shift()!
        yield* this.walk(p.rel, p.subdirs)
      }
      const rel = relDir === '' ? name : `${relDir}/${name}`
      const { versions, subdirs } = readKeyDir(join(this.dir, rel))
      if (versions.length > 0) yield { key: rel, versions }
      if (subdirs.length > 0) {
        const item = { sortKey: `${name}/`, rel, subdirs }
        const at = pending.findIndex((p) => compareKeys(item.sortKey, p.sortKey) < 0)
        pending.splice(at < 0 ? pending.length : at, 0, item)
      }
    }
    for (const p of pending) yield* this.walk(p.rel, p.subdirs)
  }

  async head(key: string, versionId?: string): Promise<ObjectInfo | null> {
    const dir = this.keyDir('HeadObject', key)
    this.requests.add('HeadObject')
    const meta = await this.readMeta(dir, versionId)
    return meta === null ? null : infoOf(meta)
  }

  /** The metadata of `versionId` (the latest when omitted), or null when there is no such version. */
  private async readMeta(keyDir: string, versionId?: string): Promise<VersionMeta | null> {
    const id = versionId ?? readKeyDir(keyDir).versions[0]
    if (id === undefined || !VERSION_ID.test(id)) return null
    try {
      return JSON.parse(readFileSync(`${keyDir}/${id}.json`, 'utf8')) as VersionMeta
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return null
      throw err
    }
  }

  async get(key: string, versionId?: string): Promise<{ info: ObjectInfo, body: Readable, whole?: Buffer }> {
    const dir = this.keyDir('GetObject', key)
    this.requests.add('GetObject')
    const meta = await this.readMeta(dir, versionId)
    const missing = () => this.missingVersion(key, versionId)
    if (meta === null) throw missing()
    let fd
    try {
      fd = openSync(`${dir}/${meta.versionId}`, 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing()
      throw err
    }
    // Most content is small: read at once, synchronously (a few microseconds
    // in the page cache, where a FileHandle stream's open, reads and close
    // each cross the thread pool; measured: a restore spent most of its
    // time there). Larger bodies stream.
    if (meta.size <= WHOLE_BODY_BYTES) {
      try {
        return new WholeBody(infoOf(meta), readStartSync(fd, meta.size))
      } finally {
        closeSync(fd)
      }
    }
    return { info: infoOf(meta), body: createReadStream('', { fd, highWaterMark: STREAM_READ_BYTES }) }
  }

  async bodyFile(key: string, versionId: string | undefined, wanted: (info: ObjectInfo) => boolean): Promise<BodyFile | undefined> {
    const dir = this.keyDir('GetObject', key)
    const meta = await this.readMeta(dir, versionId)
    if (meta === null) {
      this.requests.add('GetObject')
      throw this.missingVersion(key, versionId)
    }
    const info = infoOf(meta)
    if (meta.size > WHOLE_BODY_BYTES || !wanted(info)) return undefined
    this.requests.add('GetObject')
    return { info, path: `${dir}/${meta.versionId}`, size: meta.size, missing: () => this.missingVersion(key, versionId) }
  }

  private missingVersion(key: string, versionId: string | undefined): NotFoundError {
    return new NotFoundError('GetObject', this.location(key), versionId === undefined ? 'NoSuchKey' : 'NoSuchVersion',
      versionId === undefined ? 'no such key' : `no version ${versionId}`)
  }

  async putBuffer(key: string, body: Buffer, opts: PutOptions): Promise<{ versionId: string }> {
    const dir = this.keyDir('PutObject', key)
    checkPutOptions('PutObject', this.location(key), opts, this.clock())
    // Synchronous calls: with no fsync each is a few microseconds in the page
    // cache, where a FileHandle round trip through the thread pool costs tens
    // (measured: a first backup's upload spent most of its time in them).
    // No temporary file: the bytes are written under their version id, which
    // stays invisible until the .json is in place.
    const fresh = mkdirSync(dir, { recursive: true }) !== undefined
    this.noteUnsynced()
    // O_EXCL: the id is ours once the file is created.
    const { versionId, created: fd } = this.takeVersionId(dir, fresh, (path) => openSync(path, 'wx', 0o444))
    try {
      for (let done = 0; done < body.length;) done += writeSync(fd, body, done)
    } catch (err) {
      closeSync(fd)
      rmSync(join(dir, versionId), { force: true })
      throw err
    }
    closeSync(fd)
    this.describe(key, dir, versionId, body.length, sha256Of(body), opts)
    this.requests.add('PutObject')
    return { versionId }
  }

  async putStream(key: string, body: AsyncIterable<Buffer>, opts: PutStreamOptions): Promise<{ versionId: string } | null> {
    const dir = this.keyDir('PutObject', key)
    checkPutOptions('PutObject', this.location(key), opts, this.clock())
    await mkdir(dir, { recursive: true })
    const tmp = tempName(dir)
    const handle = await open(tmp, 'wx', 0o444)
    const hash = createHash('sha256')
    let size = 0
    try {
      this.noteUnsynced()
      for await (const chunk of body) {
        opts.signal?.throwIfAborted()
        for (let done = 0; done < chunk.length;) done += (await handle.write(chunk, done)).bytesWritten
        hash.update(chunk)
        size += chunk.length
      }
    } catch (err) {
      await handle.close()
      await unlink(tmp).catch(() => {})
      throw err
    }
    await handle.close()
    const multipart = size > this.partSize
    const parts = partCount(size, this.partSize)
    if (opts.beforeComplete && !(await opts.beforeComplete())) {
      await unlink(tmp)
      if (multipart) this.countMultipart(parts, 'AbortMultipartUpload')
      return null
    }
    const versionId = this.commit(key, dir, tmp, size, hash.digest('hex'), opts)
    if (multipart) this.countMultipart(parts, 'CompleteMultipartUpload', 'HeadObject')
    else this.requests.add('PutObject')
    return { versionId }
  }

  private countMultipart(parts: number, ...last: string[]): void {
    this.requests.add('CreateMultipartUpload')
    this.requests.add('UploadPart', parts)
    for (const api of last) this.requests.add(api)
  }

  /**
   * Takes a fresh version id of the key whose directory is `dir`: `create`
   * makes the id's bytes file, failing with EEXIST when a concurrent writer
   * took the same id between our readdir and it, and the next id is tried.
   * `fresh`: this call created `dir`, so it holds no version to read.
   */
  private takeVersionId<T>(dir: string, fresh: boolean, create: (path: string) => T): { versionId: string, created: T } {
    for (let attempt = 0; ; attempt++) {
      const versionId = fresh && attempt === 0 ? versionIdAt(this.clock(), 0) : this.nextVersionId(dir)
      try {
        return { versionId, created: create(join(dir, versionId)) }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 100) throw err
      }
    }
  }

  /** Links the finished temporary file `tmp` in as a new version of `key`, writes its .json, and returns the version id. */
  private commit(key: string, dir: string, tmp: string, size: number, sha256: string, opts: PutOptions): string {
    let versionId: string
    try {
      versionId = this.takeVersionId(dir, false, (path) => linkSync(tmp, path)).versionId
    } finally {
      rmSync(tmp, { force: true })
    }
    this.describe(key, dir, versionId, size, sha256, opts)
    return versionId
  }

  /** Writes the .json of version `versionId` of `key`, whose bytes are in place: the version exists from then on. */
  private describe(key: string, dir: string, versionId: string, size: number, sha256: string, opts: PutOptions): void {
    const meta: VersionMeta = {
      key,
      versionId,
      size,
      lastModified: dateOfVersion(versionId).toISOString(),
      sha256,
      metadata: { ...opts.metadata },
      ...(opts.contentEncoding !== undefined && { contentEncoding: opts.contentEncoding }),
      contentType: opts.contentType ?? 'application/octet-stream',
      lockMode: opts.lockMode,
      retainUntil: opts.retainUntil.toISOString(),
    }
    writeNewMeta(dir, meta)
  }

  /**
   * Makes every version written into this store so far durable, by this
   * process or another one (the stages of a run write the same store): one
   * syncfs(2) of the store's file system (through coreutils'
   * `sync --file-system`), then this object's journal file goes. Rejects
   * when the sync fails.
   *
   * No sync when the store directory holds no journal at all: every writer
   * makes its journal before its first write and removes it only after its
   * sync, so everything written before this call is durable already. (A
   * daily run that stores nothing then syncs once, after its manifest,
   * where it spawned `sync` three times.)
   */
  async makeDurable(): Promise<void> {
    const journal = this.unsyncedFile
    if (journal === undefined && journalsIn(this.dir).length === 0) return
    await syncFileSystem(this.dir)
    if (journal === undefined) return
    this.unsyncedFile = undefined
    rmSync(journal, { force: true })
    fsyncDir(this.dir)
  }

  /** Before the first unsynced write: the journal file, itself durable, naming this boot and the first version id it may cover. */
  private noteUnsynced(): void {
    if (this.unsyncedFile !== undefined) return
    const file = join(this.dir, `${UNSYNCED_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`)
    const since = versionIdAt(this.clock(), 0)
    writeFileSync(file, JSON.stringify({ bootId: bootId(), since }) + '\n', { flush: true })
    fsyncDir(this.dir)
    this.unsyncedFile = file
  }

  /** A version id after every one in `dir` (bytes without .json included), from the clock when it is ahead. */
  private nextVersionId(dir: string): string {
    const fromClock = versionIdAt(this.clock(), 0)
    let newest: string | undefined
    for (const name of readdirSync(dir)) {
      if (VERSION_ID.test(name) && (newest === undefined || name > newest)) newest = name
    }
    if (newest === undefined || newest < fromClock) return fromClock
    const sequence = Number(newest.slice(-4)) + 1
    if (sequence > MAX_SEQUENCE) throw new StoreError('PutObject', dir, 'TooManyVersions', 'more than 10000 versions in one millisecond')
    return [newest.slice(0, -4), String(sequence).padStart(4, '0')].join('')
  }

  async extendRetention(key: string, versionId: string, mode: LockMode, retainUntil: Date): Promise<void> {
    const dir = this.keyDir('PutObjectRetention', key)
    await this.withVersionLock('PutObjectRetention', key, dir, versionId, async (meta) => {
      const current: Retention = { mode: meta.lockMode, retainUntil: new Date(meta.retainUntil) }
      const send = retentionChange('PutObjectRetention', this.location(key), versionId, current, mode, retainUntil)
      if (send === null) return
      await writeMeta(dir, { ...meta, lockMode: send, retainUntil: retainUntil.toISOString() })
      this.requests.add('PutObjectRetention')
    })
  }

  async getRetention(key: string, versionId: string): Promise<Retention> {
    const dir = this.keyDir('GetObjectRetention', key)
    this.requests.add('GetObjectRetention')
    const meta = await this.readMeta(dir, versionId)
    if (meta === null) throw new NotFoundError('GetObjectRetention', this.location(key), 'NoSuchVersion', `no version ${versionId}`)
    return { mode: meta.lockMode, retainUntil: new Date(meta.retainUntil) }
  }

  /**
   * Deletes one version — for tests and fault injection only; the tool
   * never deletes, and this is not part of the Store interface. Refused
   * (StoreError `AccessDenied`, as S3 answers) while the version is
   * retained: always in COMPLIANCE mode, in GOVERNANCE mode unless
   * `bypassGovernance`. Throws NotFoundError when there is no such version.
   */
  async deleteVersion(key: string, versionId: string, opts: { bypassGovernance?: boolean } = {}): Promise<void> {
    const dir = this.keyDir('DeleteObject', key)
    this.requests.add('DeleteObject')
    await this.withVersionLock('DeleteObject', key, dir, versionId, async (meta) => {
      const until = new Date(meta.retainUntil)
      if (until.getTime() > this.clock().getTime() && (meta.lockMode === 'COMPLIANCE' || !opts.bypassGovernance)) {
        throw new StoreError('DeleteObject', this.location(key), 'AccessDenied',
          `version ${versionId} is locked in ${meta.lockMode} mode until ${until.toISOString()}`)
      }
      await unlink(join(dir, `${versionId}.json`))
      await unlink(join(dir, versionId))
      fsyncDir(dir)
    })
    await rmdir(dir).catch(() => {})
  }

  /** Runs `fn` on a version's metadata while holding an exclusive flock on its bytes (a file that never changes). */
  private async withVersionLock(op: string, key: string, dir: string, versionId: string, fn: (meta: VersionMeta) => Promise<void>): Promise<void> {
    const notFound = () => new NotFoundError(op, this.location(key), 'NoSuchVersion', `no version ${versionId}`)
    if (!VERSION_ID.test(versionId)) throw notFound()
    let handle
    try {
      handle = await open(join(dir, versionId), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw notFound()
      throw err
    }
    try {
      const lock = await flock(handle.fd, 'exclusive', Infinity)
      if (!lock.locked) throw new Error(`flock ${this.location(key)} ${versionId}: ${lock.code}`)
      const meta = await this.readMeta(dir, versionId)
      if (meta === null) throw notFound()
      await fn(meta)
    } finally {
      await handle.close()
    }
  }
}

/** Why `segment` cannot be a directory name of a key, or undefined when it can. */
function segmentProblem(segment: string): string | undefined {
  if (segment === '') return 'empty path segment'
  if (segment.startsWith('.')) return `segment "${segment}" starts with "."`
  if (VERSION_FILE.test(segment)) return `segment "${segment}" looks like a version id`
  if (Buffer.byteLength(segment) > 255) return 'a segment is longer than 255 bytes'
  return undefined
}

/** One directory of the store: its committed versions (newest first) and its visible subdirectories (S3 order). */
function readKeyDir(abs: string): { versions: string[], subdirs: string[] } {
  let entries: Dirent[]
  try {
    entries = readdirSync(abs, { withFileTypes: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return { versions: [], subdirs: [] }
    throw err
  }
  const bytes: string[] = []
  const described = new Set<string>()
  const subdirs: string[] = []
  for (const e of entries) {
    const name = e.name
    if (name.startsWith('.')) continue
    if (e.isDirectory()) {
      if (!VERSION_FILE.test(name)) subdirs.push(name)
    } else if (name.endsWith('.json')) {
      described.add(name.slice(0, -5))
    } else if (VERSION_ID.test(name)) {
      bytes.push(name)
    }
  }
  const versions = bytes.filter((v) => described.has(v)).sort().reverse()
  return { versions, subdirs: sortKeys(subdirs) }
}

/** Sorts names in UTF-8 byte order (S3's), which plain sort matches unless astral characters are present. */
function sortKeys(names: string[]): string[] {
  return names.some((n) => /[\ud800-\udfff]/.test(n)) ? names.sort(compareKeys) : names.sort()
}

/** Compares two key strings in UTF-8 byte order. */
function compareKeys(a: string, b: string): number {
  if (!/[\ud800-\udfff]/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size
  } catch {
    return undefined // deleted while listing
  }
}

/**
 * The version id written at `date` with this sequence number. Joined, not
 * concatenated: a join makes one flat string, where the replace and the
 * template made a chain of string objects (see identityKey), and a run
 * keeps the id of every content it stores.
 */
function versionIdAt(date: Date, sequence: number): string {
  return [date.toISOString().replace(/[-:]/g, ''), String(sequence).padStart(4, '0')].join('-')
}

/** The write time encoded in a version id. */
export function dateOfVersion(versionId: string): Date {
  const m = VERSION_ID.exec(versionId)
  if (!m) return new Date(NaN)
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`)
}

function infoOf(meta: VersionMeta): ObjectInfo {
  const info: ObjectInfo = {
    key: meta.key,
    versionId: meta.versionId,
    size: meta.size,
    lastModified: new Date(meta.lastModified),
    metadata: { ...meta.metadata },
    contentType: meta.contentType,
    lockMode: meta.lockMode,
    retainUntil: new Date(meta.retainUntil),
  }
  if (meta.contentEncoding !== undefined) info.contentEncoding = meta.contentEncoding
  return info
}

/**
 * A temporary file's name, unique to this process (its pid and a random
 * tag, against a pid reused after a crash) and to the call (a counter): the
 * random bytes were drawn per call before: 5 µs each alone, ~14 in a first
 * run's profile, two per stored version.
 */
function tempName(dir: string): string {
  return join(dir, `.tmp-${process.pid}-${PROCESS_TAG}-${++tempCount}`)
}

const PROCESS_TAG = randomBytes(6).toString('hex')
let tempCount = 0

/** Replaces `<versionId>.json` atomically and durably. */
async function writeMeta(dir: string, meta: VersionMeta): Promise<void> {
  const tmp = tempName(dir)
  const handle = await open(tmp, 'wx', 0o644)
  try {
    await handle.writeFile(JSON.stringify(meta, null, 2) + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, join(dir, `${meta.versionId}.json`))
  fsyncDir(dir)
}

/** Writes a new version's `<versionId>.json` atomically; makeDurable() makes it durable. */
function writeNewMeta(dir: string, meta: VersionMeta): void {
  const tmp = tempName(dir)
  writeFileSync(tmp, JSON.stringify(meta, null, 2) + '\n', { flag: 'wx', mode: 0o644 })
  renameSync(tmp, join(dir, `${meta.versionId}.json`))
}

/** Each read of a larger body: fewer chunks cost its reader less per byte than the stream's default 64 KiB; 1 MiB was no faster and held ~12 MB more in a restore. */
const STREAM_READ_BYTES = 256 * 1024

/** Journal files of writes not yet made durable (see the top of this file). */
const UNSYNCED_PREFIX = '.unsynced-'

/** The names of the `.unsynced-*` journal files in the store directory `dir`. */
function journalsIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith(UNSYNCED_PREFIX))
}

let currentBootId: string | undefined

/** This boot's id: unsynced writes of an earlier boot may have been lost. */
function bootId(): string {
  try {
    currentBootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    currentBootId = 'unknown'
  }
  return currentBootId
}

const execFileAsync = promisify(execFile)

/** syncfs(2) of the file system holding `dir` (Node has no binding; coreutils' sync has). */
async function syncFileSystem(dir: string): Promise<void> {
  await execFileAsync('sync', ['--file-system', dir])
}

/**
 * After a machine went down with writes of this store not yet synced: checks
 * every version written since (its .json readable, its bytes of the
 * recorded size and SHA-256) and hides those that are not whole, then drops
 * the journal. Journals of this boot belong to writers still running, or to
 * ones that stopped without syncing; the kernel still holds their writes.
 */
function recoverUnsynced(dir: string): void {
  let names: string[]
  try {
    names = journalsIn(dir)
  } catch {
    return
  }
  for (const name of names) {
    const journal = join(dir, name)
    let since = ''
    try {
      const parsed = JSON.parse(readFileSync(journal, 'utf8')) as { bootId?: string, since?: string }
      if (parsed.bootId === bootId()) continue
      since = parsed.since ?? ''
    } catch {
      // An unreadable journal: check everything.
    }
    checkVersionsSince(dir, '', since)
    fsyncDir(dir)
    rmSync(journal, { force: true })
    fsyncDir(dir)
  }
}

function checkVersionsSince(root: string, rel: string, since: string): void {
  const abs = rel === '' ? root : join(root, rel)
  let entries: Dirent[]
  try {
    entries = readdirSync(abs, { withFileTypes: true })
  } catch {
    return
  }
  let hidden = false
  for (const e of entries) {
    if (e.name.startsWith('.')) continue
    if (e.isDirectory()) {
      checkVersionsSince(root, rel === '' ? e.name : `${rel}/${e.name}`, since)
    } else if (VERSION_ID.test(e.name) && e.name >= since && !versionIsWhole(abs, e.name)) {
      for (const suffix of ['', '.json']) {
        try {
          renameSync(join(abs, e.name + suffix), join(abs, `.lost-${e.name}${suffix}`))
        } catch {
          // Already absent.
        }
      }
      hidden = true
    }
  }
  if (hidden) fsyncDir(abs)
}

function versionIsWhole(dir: string, versionId: string): boolean {
  try {
    const meta = JSON.parse(readFileSync(join(dir, `${versionId}.json`), 'utf8')) as VersionMeta
    const hash = createHash('sha256')
    const buffer = Buffer.allocUnsafe(1 << 20)
    const fd = openSync(join(dir, versionId), 'r')
    let size = 0
    try {
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; size += n) hash.update(buffer.subarray(0, n))
    } finally {
      closeSync(fd)
    }
    return size === meta.size && hash.digest('hex') === meta.sha256
  } catch {
    return false
  }
}

function writeAtomicSync(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text, { mode: 0o644, flush: true })
  renameSync(tmp, path)
}

/** Makes the directory's entries (new names, renames) durable. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
