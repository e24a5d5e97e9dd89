import { createHash } from 'node:crypto'
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs'
import type { Store } from '../store/store.js'
import { readAt, writeAt } from '../util/fd-io.js'
import type { DecodeWorkers } from './decode-workers.js'
import { fetchContent, type ContentRef, type Fetched } from './fetch-content.js'
import type { Fill } from './file-writer.js'
import { giveBuffer, READ_FLAGS, takeBuffer } from './on-disk.js'
import type { TargetDirs } from './target-dirs.js'

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

  constructor(private readonly store: Store, private readonly target: TargetDirs, private readonly signal?: AbortSignal, private readonly decoder?: DecodeWorkers) {}

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
      return fetchContent(this.store, ref, out, this.signal, this.decoder)
    }
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
        await writeAt(out, buf.subarray(0, n), bytes)
        bytes += n
      }
      if (hash.digest('hex') !== sha256) throw new Error('changed since it was restored')
      return { bytes, transferred: 0, gzip: false, from: 'local' }
    } finally {
      giveBuffer(buf)
      closeSync(input)
    }
  }
}
