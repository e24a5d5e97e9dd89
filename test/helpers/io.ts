import { PassThrough, Readable } from 'node:stream'
import type { CommandIO } from '../../src/cli/stage.js'
import type { Rec } from '../../src/protocol/records.js'

/** In-process stdio for main()/runStage: stdin from text, stdout and stderr captured. */
export interface TestIO extends CommandIO {
  out(): string
  /** stdout's exact bytes (out() decodes them as UTF-8). */
  outBytes(): Buffer
  err(): string
  /** stdout parsed as NDJSON records. */
  records(): Rec[]
}

export function testIO(stdin: string | Buffer | Rec[] = '', env: NodeJS.ProcessEnv = {}): TestIO {
  const input = Array.isArray(stdin) ? stdin.map((r) => JSON.stringify(r) + '\n').join('') : stdin
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const outChunks: Buffer[] = []
  const errChunks: Buffer[] = []
  stdout.on('data', (c: Buffer) => outChunks.push(c))
  stderr.on('data', (c: Buffer) => errChunks.push(c))
  return {
    stdin: Readable.from(input.length === 0 ? [] : [Buffer.from(input)]),
    stdout,
    stderr,
    env: { PATH: process.env.PATH, ...env },
    out: () => Buffer.concat(outChunks).toString('utf8'),
    outBytes: () => Buffer.concat(outChunks),
    err: () => Buffer.concat(errChunks).toString('utf8'),
    records: () => parseRecords(Buffer.concat(outChunks).toString('utf8')),
  }
}

/** Parses NDJSON text into records (throws on a bad line: tests want to know). */
export function parseRecords(text: string): Rec[] {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec)
}

/** A header/trailer-wrapped stream from `producer` around `body`. */
export function wrapStream(producer: string, body: Rec[], ok = true): Rec[] {
  return [
    { type: 'header', producer, protocol: 1, version: '0.0.0', startedAt: '2026-01-01T00:00:00.000Z' },
    ...body,
    { type: 'trailer', producer, ok, counts: {}, finishedAt: '2026-01-01T00:00:01.000Z' },
  ]
}
