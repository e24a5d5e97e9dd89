import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/** What a worker made of one body: the decoded bytes written to the file, and their SHA-256. */
export interface Decoded {
  bytes: number
  sha256: string
}

/**
 * The worker's code, evaluated as a script (plain JavaScript: a worker
 * evaluated from text loads the same under the built program and under the
 * test runner's TypeScript loader, where a file next to this one would be
 * `.ts`). Per message: gunzip the body when asked (at most `maxOutput`
 * bytes, else ERR_BUFFER_TOO_LARGE), write the result to the descriptor
 * from offset 0, hash it, answer. An error is answered with its message,
 * code and syscall, for the caller to judge as it would its own.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { gunzipSync } = require('node:zlib')
const { createHash } = require('node:crypto')
const { writeSync } = require('node:fs')
parentPort.on('message', (m) => {
  try {
    const data = m.gzip ? gunzipSync(m.body, { maxOutputLength: m.maxOutput }) : m.body
    for (let done = 0; done < data.length;) done += writeSync(m.fd, data, done, data.length - done, done)
    parentPort.postMessage({ id: m.id, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') })
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String(err && err.message), code: err && err.code, syscall: err && err.syscall } })
  }
})
`

interface Pending {
  resolve: (d: Decoded) => void
  reject: (err: Error) => void
}

interface Answer {
  id: number
  bytes?: number
  sha256?: string
  error?: { message: string, code?: string, syscall?: string }
}

/** One worker thread and the requests it has not answered yet. */
class DecodeWorker {
  readonly pending = new Map<number, Pending>()
  private readonly worker: Worker

  constructor(private readonly onEnd: (self: DecodeWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, stdout: false, stderr: false })
    this.worker.on('message', (a: Answer) => this.answer(a))
    // A worker that fails (out of memory) or exits fails what it was given; the next request starts another.
    this.worker.on('error', (err) => this.end(err))
    this.worker.on('exit', (code) => this.end(new Error(`the restore's decode worker exited (status ${code})`)))
  }

  post(id: number, fd: number, body: Uint8Array, gzip: boolean, maxOutput: number): Promise<Decoded> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      // A body with memory of its own is moved, not copied: no copy to make, and none left for the worker's collector.
      const movable = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer
      this.worker.postMessage({ id, fd, body, gzip, maxOutput }, movable ? [body.buffer] : [])
    })
  }

  terminate(): Promise<number> {
    return this.worker.terminate()
  }

  private answer(a: Answer): void {
    const p = this.pending.get(a.id)
    if (p === undefined) return
    this.pending.delete(a.id)
    if (a.error === undefined) p.resolve({ bytes: a.bytes!, sha256: a.sha256! })
    else p.reject(Object.assign(new Error(a.error.message), a.error.code !== undefined && { code: a.error.code }, a.error.syscall !== undefined && { syscall: a.error.syscall }))
  }

  private end(err: Error): void {
    this.onEnd(this)
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }
}

/**
 * Worker threads that decode (gunzip) bodies already in memory, hash them
 * and write them into the files being restored: the part of a file's
 * restore that is the same work for every byte, taken off the main thread,
 * which a restore of many small files is bound by (the per-file calls,
 * records and promises stay there). Workers start on first use, one fewer
 * than the machine has cores (at least one). The 20,000-file local restore
 * on tmpfs, 3 pairs: 12.07 s against 13.58 with the main thread decoding.
 * Cost: each worker's isolate (~10 MB), and the buffers it decodes into,
 * which live outside its JS heap: a heap that hardly grows is collected
 * only when 64 MiB more of them are held. That restore peaked at ~241 MB
 * against 208 (250 when bodies were copied to the worker rather than
 * moved). The descriptor is shared (descriptors belong to the process),
 * and the promise settles only once the worker has finished writing to it,
 * so the caller's close comes after the last write.
 */
export class DecodeWorkers {
  private readonly workers: DecodeWorker[] = []
  private nextId = 1
  private closed = false

  constructor(private readonly size = Math.max(1, availableParallelism() - 1)) {}

  /**
   * Writes `body` (gunzipped when `gzip`, to at most `maxOutput` bytes) into
   * `fd` from offset 0; resolves with the bytes written and their SHA-256.
   * A body that is the whole of its memory is moved to the worker: it is
   * empty (detached) here once this returns. Others are copied.
   * Rejects with the worker's error: its code (ERR_BUFFER_TOO_LARGE, Z_…,
   * ENOSPC…) kept.
   */
  decodeInto(fd: number, body: Uint8Array, gzip: boolean, maxOutput: number): Promise<Decoded> {
    if (this.closed) return Promise.reject(new Error('the decode workers are closed'))
    return this.pick().post(this.nextId++, fd, body, gzip, maxOutput)
  }

  /** Ends the workers. Call once nothing is pending. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()))
  }

  /** The least busy worker, started when fewer than `size` run and all are busy. */
  private pick(): DecodeWorker {
    let best: DecodeWorker | undefined
    for (const w of this.workers) if (best === undefined || w.pending.size < best.pending.size) best = w
    if (best !== undefined && (best.pending.size === 0 || this.workers.length >= this.size)) return best
    const w = new DecodeWorker((self) => {
      const i = this.workers.indexOf(self)
      if (i >= 0) this.workers.splice(i, 1)
    })
    this.workers.push(w)
    return w
  }
}
