import { createHash } from 'node:crypto'
import { isUtf8 } from 'node:buffer'
import { pipeline, Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { LineError, splitLines } from '../protocol/line-splitter.js'
import { MAX_LINE_BYTES, ProtocolError } from '../protocol/read-records.js'
import { ENTRY_TYPES, PROTOCOL_VERSION, type HeaderRecord, type Rec, type TrailerRecord } from '../protocol/records.js'
import type { Store } from '../store/store.js'

/** One line of a manifest: its record, or why it is not one. */
export type ManifestLine =
  | { line: number, rec: Rec, problem?: undefined }
  | { line: number, rec?: undefined, problem: string }

/** What reading a whole manifest showed; final only once iteration has ended. */
export interface ManifestVerdict {
  /** Set when the manifest ended without its trailer, was cut off, or has lines after the trailer: why. */
  truncated?: string
  /**
   * `ok`: the trailer's digest matches the lines before it; `mismatch`: it
   * does not (the manifest was altered); `absent`: the trailer has none;
   * `unchecked`: checking was not asked for, or there is no trailer.
   */
  digest: 'ok' | 'mismatch' | 'absent' | 'unchecked'
  /** The trailer's `ok`: false for the manifest of an incomplete backup. */
  backupComplete?: boolean
  /** The trailer's `reason`, when the backup was incomplete. */
  reason?: string
  /** Entry records read. */
  entriesRead: number
  /** How many entries the trailer counts (digest-checked manifests only). */
  entriesCounted?: number
}

export interface ManifestReaderOptions {
  /** Name in messages: `stdin`, or the manifest's key. */
  source: string
  /**
   * Compare the trailer's digest and entry count with what was read: for a
   * manifest read from the store. A manifest on stdin may have been
   * filtered on purpose (jq), so there it is not checked.
   */
  checkDigest: boolean
  maxLineBytes?: number
}

const ENTRY_TYPE_SET: ReadonlySet<string> = new Set(ENTRY_TYPES)
const NEWLINE = Buffer.from('\n')

/**
 * Reads a manifest (sysbackup-manifest(1)'s object, or any record stream):
 * gunzips it when it starts with the gzip magic, splits it into lines and
 * parses each. Unlike the stages' RecordReader it is forgiving, because a
 * restore should save what it can: a line that is not a JSON object with a
 * `type` is yielded as a problem (with its line number) and reading goes
 * on; a stream that is cut off or damaged ends the iteration normally, and
 * `verdict().truncated` says where. Only a header of a newer protocol
 * version throws (ProtocolError): its records cannot be understood safely.
 *
 * The manifest's own header is its first record; its trailer is a trailer
 * of the same producer, which must be the last line. The digest
 * (`sha256:<hex>` of every line before the trailer, newlines included) is
 * computed as the lines stream by. Memory: one line at a time.
 */
export class ManifestReader implements AsyncIterable<ManifestLine> {
  header: HeaderRecord | undefined
  trailer: TrailerRecord | undefined
  /** Lines read so far. */
  lines = 0
  private records = 0
  private entries = 0
  private linesAfterTrailer = 0
  private digestBeforeTrailer: string | undefined
  private cutOff: string | undefined
  private finished = false

  constructor(private readonly input: AsyncIterable<Buffer | string>, private readonly options: ManifestReaderOptions) {}

  get source(): string {
    return this.options.source
  }

  /** Whether the manifest was read to its end (or to where it is cut off); false while it is read, and when its reader stopped early. */
  get ended(): boolean {
    return this.finished
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ManifestLine> {
    const hash = createHash('sha256')
    try {
      for await (const { number, bytes } of splitLines(decoded(this.input), this.options.maxLineBytes ?? MAX_LINE_BYTES)) {
        this.lines = number
        if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0x0d)) {
          hash.update(bytes).update(NEWLINE)
          continue
        }
        const parsed = parseLine(bytes)
        // Input handed over by a person (stdin) whose first line is not even a
        // record is not a manifest at all (binary garbage, the wrong file):
        // one error, not one per line. A stored manifest is read on regardless.
        if (this.records === 0 && typeof parsed === 'string' && !this.options.checkDigest) {
          throw new ProtocolError(`${this.source}:${number}`, `${parsed}: this is not a record stream`)
        }
        if (typeof parsed !== 'string' && this.isOwnTrailer(parsed)) {
          this.digestBeforeTrailer = `sha256:${hash.copy().digest('hex')}`
          this.trailer = parsed as TrailerRecord
          this.linesAfterTrailer = 0
        } else {
          if (this.trailer !== undefined) this.linesAfterTrailer++
          if (typeof parsed !== 'string') this.note(parsed, number)
        }
        hash.update(bytes).update(NEWLINE)
        this.records++
        yield typeof parsed === 'string' ? { line: number, problem: parsed } : { line: number, rec: parsed }
      }
    } catch (err) {
      if (err instanceof ProtocolError) throw err
      const why = err instanceof LineError
        ? err.message
        : (err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' ? 'the gzip stream is cut off' : `cannot be read: ${(err as Error).message}`
      this.cutOff = `${this.source}:${this.lines + 1}: ${why}; nothing after line ${this.lines} was read`
    }
    this.finished = true
  }

  private isOwnTrailer(rec: Rec): boolean {
    return rec.type === 'trailer' && this.header !== undefined && rec.producer === this.header.producer
  }

  private note(rec: Rec, line: number): void {
    if (this.records === 0 && rec.type === 'header') {
      if (typeof rec.protocol === 'number' && rec.protocol > PROTOCOL_VERSION) {
        throw new ProtocolError(`${this.source}:${line}`,
          `protocol version ${rec.protocol} from ${String(rec.producer)} is newer than this program understands (${PROTOCOL_VERSION})`)
      }
      this.header = rec as HeaderRecord
    }
    if (ENTRY_TYPE_SET.has(rec.type)) this.entries++
  }

  /** What the whole manifest showed. Meant for after the iteration has ended. */
  verdict(): ManifestVerdict {
    const v: ManifestVerdict = { digest: 'unchecked', entriesRead: this.entries }
    if (this.cutOff !== undefined) {
      v.truncated = this.cutOff
    } else if (!this.finished) {
      v.truncated = `${this.source}: not read to its end`
    } else if (this.records === 0) {
      v.truncated = `${this.source}: empty: no records at all`
    } else if (this.trailer === undefined) {
      v.truncated = `${this.source}: ended at line ${this.lines} without the trailer of ${this.header?.producer ?? 'its producer (and it has no header)'}: the manifest is cut off`
    } else if (this.linesAfterTrailer > 0) {
      v.truncated = `${this.source}: ${this.linesAfterTrailer} line(s) follow the trailer of ${this.trailer.producer}`
    }
    if (this.trailer !== undefined) {
      v.backupComplete = this.trailer.ok === true
      if (typeof this.trailer.reason === 'string') v.reason = this.trailer.reason
      if (this.options.checkDigest) {
        const stated = this.trailer.digest
        v.digest = typeof stated !== 'string' ? 'absent' : stated === this.digestBeforeTrailer ? 'ok' : 'mismatch'
        const counted = (this.trailer.counts as Record<string, unknown> | undefined)?.entries
        if (typeof counted === 'number') v.entriesCounted = counted
      }
    }
    return v
  }
}

/** The record of a line, or why it is not one. */
function parseLine(bytes: Buffer): Rec | string {
  if (!isUtf8(bytes)) return 'line is not valid UTF-8'
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    return `invalid JSON (${(err as Error).message})`
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'record is not a JSON object'
  const rec = value as Rec
  if (typeof rec.type !== 'string' || rec.type === '') return 'record has no string "type"'
  return rec
}

/** The input's bytes, gunzipped when it begins with the gzip magic (1f 8b). */
async function* decoded(input: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  const source = input[Symbol.asyncIterator]()
  const head: Buffer[] = []
  let headBytes = 0
  while (headBytes < 2) {
    const next = await source.next()
    if (next.done) break
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
    head.push(chunk)
    headBytes += chunk.length
  }
  const first = Buffer.concat(head)
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first
    for (;;) {
      const next = await source.next()
      if (next.done) return
      yield typeof next.value === 'string' ? Buffer.from(next.value) : next.value
    }
  }
  if (first[0] !== 0x1f || first[1] !== 0x8b) {
    yield* all()
    return
  }
  // The callback form returns the last stream; a failure anywhere destroys it, so iterating it throws.
  const gunzipped = pipeline(Readable.from(all()), createGunzip(), () => {})
  for await (const chunk of gunzipped) yield chunk as Buffer
}

/**
 * Why a manifest read to its end cannot be trusted whole: cut off, or its
 * lines not those its trailer's digest was made of; null when it can.
 */
export function manifestDamage(reader: ManifestReader): string | null {
  const v = reader.verdict()
  if (v.truncated !== undefined) return v.truncated
  if (v.digest === 'mismatch') return `${reader.source}: its digest does not match its lines`
  return null
}

/**
 * Opens the manifest `key` (a given version, else the newest) in the store
 * for reading. Throws NotFoundError when it does not exist.
 * Cost: one GetObject.
 */
export async function openManifest(store: Store, key: string, versionId?: string): Promise<ManifestReader> {
  const { body } = await store.get(key, versionId)
  return new ManifestReader(body, { source: key, checkDigest: true })
}
