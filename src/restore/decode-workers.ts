import { ownMemory, WorkerPool } from '../util/worker-pool.js'

/** What a worker made of one body: the decoded bytes written to the file, and their SHA-256. */
export interface Decoded {
  bytes: number
  sha256: string
}

/**
 * Per message: gunzip the body when asked (at most `maxOutput` bytes, else
 * ERR_BUFFER_TOO_LARGE), write the result to the descriptor from offset 0,
 * hash it, answer.
 */
const DECODE_JOB = `
const { gunzipSync } = require('node:zlib')
const { hash } = require('node:crypto')
const { writeSync } = require('node:fs')
function job(m) {
  const data = m.gzip ? gunzipSync(m.body, { maxOutputLength: m.maxOutput }) : m.body
  for (let done = 0; done < data.length;) done += writeSync(m.fd, data, done, data.length - done, done)
  return { answer: { bytes: data.length, sha256: hash('sha256', data, 'hex') }, transfer: [], bytes: m.body.length + data.length }
}
`

/**
 * Worker threads that decode (gunzip) bodies already in memory, hash them
 * and write them into the files being restored: the part of a file's
 * restore that is the same work for every byte, taken off the main thread,
 * which a restore of many small files is bound by (the per-file calls,
 * records and promises stay there). The 20,000-file local restore on
 * tmpfs, 3 pairs: 12.07 s against 13.58 with the main thread decoding;
 * peak RSS 222-231 MB against 208 (250 when bodies were copied to the
 * worker and it did not collect its own garbage). The descriptor is
 * shared (descriptors belong to the process), and the promise settles
 * only once the worker has finished writing to it, so the caller's close
 * comes after the last write.
 */
export class DecodeWorkers {
  private readonly pool: WorkerPool

  constructor(size?: number) {
    this.pool = new WorkerPool(DECODE_JOB, 'restore decode', size)
  }

  /**
   * Writes `body` (gunzipped when `gzip`, to at most `maxOutput` bytes) into
   * `fd` from offset 0; resolves with the bytes written and their SHA-256.
   * A body that is the whole of its memory is moved to the worker: it is
   * empty (detached) here once this returns. Others are copied.
   * Rejects with the worker's error: its code (ERR_BUFFER_TOO_LARGE, Z_…,
   * ENOSPC…) kept.
   */
  decodeInto(fd: number, body: Uint8Array, gzip: boolean, maxOutput: number): Promise<Decoded> {
    const memory = ownMemory(body)
    return this.pool.run({ fd, body, gzip, maxOutput }, memory !== undefined ? [memory] : [])
  }

  /** Ends the workers. Call once nothing is pending. */
  close(): Promise<void> {
    return this.pool.close()
  }
}
