import { isUtf8 } from 'node:buffer'
import { LineError, splitLines } from './line-splitter.js'
import { decodePath, decodePathField, PathFieldError } from './path-codec.js'
import { isEntry, PROTOCOL_VERSION, type Rec } from './records.js'
import { observed } from '../util/observed.js'

/**
 * The longest record line accepted. Real records are a few hundred bytes (a
 * 4 KiB path and a large ACL stay far below); anything near this is garbage,
 * and refusing it keeps memory bounded.
 */
export const MAX_LINE_BYTES = 1 << 20

/** Where a record came from: its input's name and 1-based line number. */
const ORIGIN = Symbol('origin')
interface Origin { source: string, line: number }

/** `source:line` of a record read by a RecordReader, or undefined. */
export function originOf(rec: Rec): string | undefined {
  const origin = (rec as { [ORIGIN]?: Origin })[ORIGIN]
  return origin ? `${origin.source}:${origin.line}` : undefined
}

/**
 * A violation of the protocol in the input: invalid JSON, a non-object, a
 * missing or malformed field, a version from the future. Fatal for the
 * stage. The message names the input and line: `stdin:17: invalid JSON…`.
 */
export class ProtocolError extends Error {
  constructor(readonly where: string, readonly detail: string) {
    super(`${where}: ${detail}`)
  }
}

/**
 * Thrown by a stage about a record that is well-formed JSON but unusable
 * by that stage (say, a file record without `sha256` given to upload).
 * The runner reports it with the record's origin, like a ProtocolError.
 */
export class RecordError extends Error {
  constructor(readonly rec: Rec, readonly detail: string) {
    super(detail)
  }
}

export interface ReaderOptions {
  /** Name used in messages: `stdin` or a file name. */
  source: string
  maxLineBytes?: number
  /**
   * Take an empty input as a stream cut off before its header (see
   * truncation()) instead of a ProtocolError: for a consumer of several
   * streams, one of which may come from a stage that died before writing.
   */
  emptyIsTruncated?: boolean
}

/**
 * Parses an NDJSON record stream. Iterating yields every record, headers
 * and trailers included, in order. Each record remembers its origin
 * (see originOf). Iteration throws ProtocolError on the first bad line.
 * RecordReader.ofRecords reads records another stage of this process made
 * (the archive wrapper's in-process chain): nothing to parse or check, but
 * the same header/trailer bookkeeping.
 *
 * After iteration ends, `truncation()` says whether every header was closed
 * by its trailer, and `upstreamProblems` lists trailers that were not ok.
 */
export class RecordReader implements AsyncIterable<Rec> {
  readonly source: string
  /** Producers whose header has been read and whose trailer has not, oldest first. */
  readonly openStreams: string[] = []
  /** Producers whose trailer said ok: false, with the reason they gave. */
  readonly upstreamProblems: string[] = []
  records = 0
  lines = 0
  private readonly maxLineBytes: number
  private readonly emptyIsTruncated: boolean
  private finished = false

  private objects: AsyncIterable<Rec> | undefined

  constructor(private readonly input: AsyncIterable<Buffer | string>, options: ReaderOptions) {
    this.source = options.source
    this.maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES
    this.emptyIsTruncated = options.emptyIsTruncated ?? false
  }

  /**
   * A reader of records that are already objects, made by a stage of this
   * process, which writes only well-formed records: they are passed on as
   * they are (no origin: a record's number stands in for its line), and
   * the headers and trailers are tracked as for parsed input.
   */
  static ofRecords(records: AsyncIterable<Rec>, options: Omit<ReaderOptions, 'maxLineBytes'>): RecordReader {
    const reader = new RecordReader((async function* () {})(), options)
    reader.objects = records
    return reader
  }

  [Symbol.asyncIterator](): AsyncIterator<Rec> {
    return this.objects !== undefined ? this.readObjects(this.objects) : this.readLines()
  }

  /** Marks the input read to its end; an input without a single record is a protocol error, unless allowed. */
  private finish(): void {
    this.finished = true
    if (this.records === 0 && !this.emptyIsTruncated) {
      throw new ProtocolError(`${this.source}:${this.lines + 1}`, 'empty input: expected a header record')
    }
  }

  private async *readLines(): AsyncGenerator<Rec> {
    try {
      for await (const line of splitLines(this.input, this.maxLineBytes)) {
        this.lines = line.number
        if (line.bytes.length === 0 || (line.bytes.length === 1 && line.bytes[0] === 0x0d)) continue
        const rec = this.parse(line.bytes, line.number)
        this.track(rec, line.number)
        this.records++
        yield rec
      }
    } catch (err) {
      if (err instanceof LineError) throw new ProtocolError(`${this.source}:${err.lineNumber}`, err.message)
      throw err
    }
    this.finish()
  }

  /**
   * The records of another stage of this process, tracked as they pass,
   * through a plain iterator (see observed): an archive's records pass
   * through a reader in three stages.
   */
  private readObjects(records: AsyncIterable<Rec>): AsyncIterator<Rec> {
    return observed(records, (rec) => {
      this.track(rec, ++this.lines)
      this.records++
    }, () => this.finish())
  }

  /**
   * Null when the input ended with every stream closed by its trailer;
   * otherwise a sentence saying which trailers are missing.
   */
  truncation(): string | null {
    if (!this.finished) return 'input was not read to its end'
    if (this.records === 0) return 'input was empty, not even a header: the stream was cut off'
    if (this.openStreams.length === 0) return null
    const missing = [...new Set(this.openStreams)].join(', ')
    return `input ended at line ${this.lines} without the trailer of ${missing}: the stream was cut off`
  }

  private parse(bytes: Buffer, number: number): Rec {
    const where = `${this.source}:${number}`
    if (!isUtf8(bytes)) throw new ProtocolError(where, 'line is not valid UTF-8')
    let value: unknown
    try {
      value = JSON.parse(bytes.toString('utf8'))
    } catch (err) {
      throw new ProtocolError(where, `invalid JSON (${(err as Error).message})`)
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ProtocolError(where, `record is not a JSON object`)
    }
    const rec = value as Rec
    if (typeof rec.type !== 'string' || rec.type === '') {
      throw new ProtocolError(where, 'record has no string "type"')
    }
    if (this.records === 0 && rec.type !== 'header') {
      throw new ProtocolError(where, `stream does not begin with a header record (found "${rec.type}")`)
    }
    const problem = checkKnownFields(rec)
    if (problem) throw new ProtocolError(where, `${rec.type} record: ${problem}`)
    Object.defineProperty(rec, ORIGIN, { value: { source: this.source, line: number }, enumerable: false })
    return rec
  }

  private track(rec: Rec, number: number): void {
    if (rec.type === 'header') {
      const version = rec.protocol as number
      if (version > PROTOCOL_VERSION) {
        throw new ProtocolError(`${this.source}:${number}`,
          `protocol version ${version} from ${String(rec.producer)} is newer than this program understands (${PROTOCOL_VERSION})`)
      }
      this.openStreams.push(rec.producer as string)
    } else if (rec.type === 'trailer') {
      const at = this.openStreams.lastIndexOf(rec.producer as string)
      if (at < 0) throw new ProtocolError(`${this.source}:${number}`, `trailer of ${String(rec.producer)} without its header`)
      this.openStreams.splice(at, 1)
      if (rec.ok !== true) {
        this.upstreamProblems.push(`${String(rec.producer)}: ${typeof rec.reason === 'string' ? rec.reason : 'not ok'}`)
      }
    }
  }
}

/** Checks the fields this protocol version requires of the types it defines. */
function checkKnownFields(rec: Rec): string | null {
  switch (rec.type) {
    case 'header':
      if (typeof rec.producer !== 'string' || rec.producer === '') return 'no string "producer"'
      if (!Number.isInteger(rec.protocol) || (rec.protocol as number) < 1) return 'no positive integer "protocol"'
      return null
    case 'trailer':
      if (typeof rec.producer !== 'string' || rec.producer === '') return 'no string "producer"'
      if (typeof rec.ok !== 'boolean') return 'no boolean "ok"'
      return null
    case 'error':
    case 'warning':
      if (typeof rec.message !== 'string') return 'no string "message"'
      return null
  }
  if (!isEntry(rec)) return null
  try {
    decodePath(rec)
    if (rec.type === 'symlink') decodePathField(rec, 'target')
  } catch (err) {
    if (err instanceof PathFieldError) return err.message
    throw err
  }
  if (typeof rec.mode !== 'string' || !/^[0-7]{4}$/.test(rec.mode)) return '"mode" is not 4 octal digits'
  if (rec.type === 'file') {
    if (!Number.isSafeInteger(rec.size) || (rec.size as number) < 0) return '"size" is not a non-negative integer'
    if (rec.sha256 !== undefined && (typeof rec.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(rec.sha256))) {
      return '"sha256" is not 64 lower-case hex digits'
    }
  }
  return null
}
