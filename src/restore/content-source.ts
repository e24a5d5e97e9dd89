import { createHash } from 'node:crypto'
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs'
import type { BodyFile, ObjectInfo, Store } from '../store/store.js'
import { readAt } from '../util/fd-io.js'
import type { DecodeWorkers } from './decode-workers.js'
import { checkDecoded, ContentMismatchError, decodeFailure, decodesWhole, fetchContent, isGzip, statedSize, WHOLE_DECODE_LIMIT, wholeBody, writeBody, type ContentRef, type Fetched } from './fetch-content.js'
import { writeFile, type Committed, type FileOwner, type Fill } from './file-writer.js'
import { giveBuffer, READ_FLAGS, takeBuffer } from './on-disk.js'
import { setLength, writeMaybeSparse } from './sparse.js'
import type { DirHandle, TargetDirs } from './target-dirs.js'

/** The SHA-256 of no bytes at all. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/** Contents remembered for local copies: about 100 bytes each, so a few MiB at most. */
const REMEMBERED = 32_768

/**
 * Where a file's content comes from during a restore, cheapest first:
 * - empty content needs no request at all;
 * - content this restore already wrote to another file (a copy, not a hard
 *   link: identical licence texts, empty `__init__.py`s…) is copied from
 *   that file, and hashed again as it is copied, so a file changed since
 *   cannot pass; the most recent REMEMBERED contents are kept;
 * - anything else is downloaded (one GetObject) and verified.
 * A local copy that fails for any reason falls back to the store.
 */
export class ContentSource {
  private readonly written = new Map<string, readonly Buffer[]>()

  /** `sparse`: whole blocks of zeros are left as holes in every file written (sparse.ts). */
  constructor(
    private readonly store: Store,
    private readonly target: TargetDirs,
    private readonly signal?: AbortSignal,
    private readonly decoder?: DecodeWorkers,
    private readonly sparse = false,
  ) {}

  /** The Fill for one file's content. */
  fill(ref: ContentRef): Fill {
    return async (out) => {
      if (ref.sha256 === EMPTY_SHA256) return { bytes: 0, transferred: 0, gzip: false, from: 'empty' }
      const earlier = this.written.get(ref.sha256)
      if (earlier !== undefined) {
        try {
          return await this.copy(earlier, ref.sha256, out)
        } catch {
          this.written.delete(ref.sha256)
          ftruncateSync(out, 0)
        }
      }
      return fetchContent(this.store, ref, out, this.signal, this.sparse)
    }
  }

  /**
   * Makes `name` in `dir` a file holding the content `ref` with `owner`
   * (writeFile), its content from wherever is cheapest (see the class).
   * A body the store holds whole in memory goes to a decode worker, which
   * makes the whole file, and only once it has checked the content (the
   * main thread, which a restore of small files is bound by, is left the
   * records); any other is fetched into the temporary file here.
   */
  async write(ref: ContentRef, dir: DirHandle, name: Buffer, owner: FileOwner): Promise<Committed & { fetched: Fetched }> {
    if (this.decoder === undefined || ref.sha256 === EMPTY_SHA256 || this.written.has(ref.sha256)) {
      return writeFile(dir, name, this.fill(ref), owner)
    }
    // A store on this machine hands over the body's file: the worker reads it too.
    const file = await this.store.bodyFile?.(ref.key, ref.versionId, decodesWhole)
    if (file !== undefined) return this.writeWhole(this.decoder, file.info, file, ref, dir, name, owner)
    const got = await this.store.get(ref.key, ref.versionId)
    const whole = wholeBody(got)
    if (whole !== undefined) return this.writeWhole(this.decoder, got.info, whole, ref, dir, name, owner)
    try {
      return await writeFile(dir, name, (out) => writeBody(got, ref, out, this.signal, this.sparse), owner)
    } catch (err) {
      got.body.destroy() // when the file could not be made, the body was never read
      throw err
    }
  }

  /** Has a decode worker make the file from a body held whole, or from a body's file (Store.bodyFile). */
  private async writeWhole(decoder: DecodeWorkers, info: ObjectInfo, whole: Buffer | BodyFile, ref: ContentRef, dir: DirHandle, name: Buffer, owner: FileOwner): Promise<Committed & { fetched: Fetched }> {
    this.signal?.throwIfAborted()
    const gzip = isGzip(info)
    // Taken before the body moves to the worker; of a file, only its place crosses (`missing` cannot).
    const transferred = whole instanceof Uint8Array ? whole.length : whole.size
    const body = whole instanceof Uint8Array ? whole : { path: whole.path, size: whole.size }
    let answer
    try {
      answer = await decoder.writeFile(dir, name, body, gzip, WHOLE_DECODE_LIMIT, { sha256: ref.sha256, size: statedSize(info) }, owner, this.sparse)
    } catch (err) {
      throw decodeFailure(err, ref, info)
    }
    if (answer.bodyMissing === true && !(whole instanceof Uint8Array)) throw whole.missing()
    checkDecoded(ref, info, answer.sha256, answer.bytes)
    // The worker writes only what checkDecoded accepts; this is never reached for other content.
    if (answer.written === null) throw new ContentMismatchError(`${ref.key}: content is not what its key says`)
    const fetched: Fetched = { bytes: answer.bytes, transferred, gzip, from: 'store' }
    return { fetched, owner: answer.written.owner, st: answer.written.st, timesSet: answer.written.timesSet }
  }

  /** Notes that the file at `parts` now holds the content `sha256`. */
  remember(sha256: string, parts: readonly Buffer[]): void {
    if (sha256 === EMPTY_SHA256) return
    this.written.delete(sha256)
    this.written.set(sha256, parts)
    if (this.written.size > REMEMBERED) this.written.delete(this.written.keys().next().value!)
  }

  private async copy(parts: readonly Buffer[], sha256: string, out: number): Promise<Fetched> {
    const dir = await this.target.acquire(parts.slice(0, -1), null)
    let input: number
    try {
      input = openSync(dir.at(parts[parts.length - 1]!), READ_FLAGS)
    } finally {
      this.target.release(dir)
    }
    const buf = takeBuffer()
    try {
      if (!fstatSync(input).isFile()) throw new Error('not a regular file')
      const hash = createHash('sha256')
      let bytes = 0
      for (;;) {
        const n = await readAt(input, buf, 0, buf.length, bytes)
        if (n === 0) break
        hash.update(buf.subarray(0, n))
        await writeMaybeSparse(out, buf.subarray(0, n), bytes, this.sparse)
        bytes += n
      }
      if (hash.digest('hex') !== sha256) throw new Error('changed since it was restored')
      if (this.sparse) setLength(out, bytes)
      return { bytes, transferred: 0, gzip: false, from: 'local' }
    } finally {
      giveBuffer(buf)
      closeSync(input)
    }
  }
}
