import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/**
 * What every pool's worker runs around its job: a message loop that calls
 * `job(message)`, which returns `{ answer, transfer, bytes }`, and posts
 * the answer (moving the `transfer` buffers); a thrown error is answered
 * with its message, code and syscall.
 *
 * Why the worker collects its own young garbage every 8 MiB of `bytes`
 * handled: its buffers live outside its JS heap, and a heap that hardly
 * grows is collected only once 64 MiB more of them are held. The
 * 20,000-file restore's decode worker peaked ~20 MB higher without this
 * (244-253 MB against 222-231). `gc` is exposed the way this project
 * already sets V8 flags at start (heap-growth.ts), and is reached through
 * a new context, which is where V8 installs it.
 */
const PREAMBLE = `
const { parentPort } = require('node:worker_threads')
require('node:v8').setFlagsFromString('--expose-gc')
const collect = require('node:vm').runInNewContext('gc')
let handled = 0
parentPort.on('message', (m) => {
  let done
  try {
    done = job(m)
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String(err && err.message), code: err && err.code, syscall: err && err.syscall } })
    return
  }
  parentPort.postMessage({ id: m.id, answer: done.answer }, done.transfer)
  handled += done.bytes
  if (handled >= ${8 * 1024 * 1024}) {
    handled = 0
    collect({ type: 'minor' })
  }
})
`

interface Pending {
  resolve: (answer: unknown) => void
  reject: (err: Error) => void
}

interface Reply {
  id: number
  answer?: unknown
  error?: { message: string, code?: string, syscall?: string }
}

/** One worker thread and the requests it has not answered yet. */
class PoolWorker {
  readonly pending = new Map<number, Pending>()
  private readonly worker: Worker

  constructor(source: string, name: string, private readonly onEnd: (self: PoolWorker) => void) {
    this.worker = new Worker(source, { eval: true, stdout: false, stderr: false, name })
    // Idle, it does not keep the process alive (see WorkerPool).
    this.worker.unref()
    this.worker.on('message', (r: Reply) => this.reply(r))
    // A worker that fails (out of memory) or exits fails what it was given; the next request starts another.
    this.worker.on('error', (err) => this.end(err))
    this.worker.on('exit', (code) => this.end(new Error(`the ${name} worker exited (status ${code})`)))
  }

  post(id: number, message: object, transfer: ArrayBuffer[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref()
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage({ ...message, id }, transfer)
    })
  }

  terminate(): Promise<number> {
    return this.worker.terminate()
  }

  private reply(r: Reply): void {
    const p = this.pending.get(r.id)
    if (p === undefined) return
    this.pending.delete(r.id)
    if (this.pending.size === 0) this.worker.unref()
    if (r.error === undefined) p.resolve(r.answer)
    else p.reject(Object.assign(new Error(r.error.message), r.error.code !== undefined && { code: r.error.code }, r.error.syscall !== undefined && { syscall: r.error.syscall }))
  }

  private end(err: Error): void {
    this.onEnd(this)
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }
}

/**
 * Worker threads that run one job, given as JavaScript source defining
 * `function job(message)` (evaluated as a script: it loads the same built
 * and under the test runner's TypeScript loader). For work that is the same
 * for every byte (gzip, gunzip, hashing), taken off a main thread that is
 * a run's bottleneck. Workers start on first use, up to `size` (default:
 * one fewer than the machine has cores, at least one), each an isolate of
 * ~10 MB; a request goes to the least busy, and each worker answers its
 * requests in order. A worker with nothing pending does not keep the
 * process alive, so a pool that is never closed holds up no exit.
 */
export class WorkerPool {
  private readonly workers: PoolWorker[] = []
  private nextId = 1
  private closed = false

  constructor(private readonly jobSource: string, private readonly name: string, private readonly size = Math.max(1, availableParallelism() - 1)) {}

  /**
   * Runs the job on `message`; resolves with its answer. Buffers in
   * `transfer` are moved to the worker (detached here). Rejects with the
   * job's error, its code and syscall kept, or when the worker ends.
   */
  run<T>(message: object, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`the ${this.name} workers are closed`))
    return this.pick().post(this.nextId++, message, transfer) as Promise<T>
  }

  /** Ends the workers. Call once nothing is pending. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()))
  }

  /** The least busy worker, started when fewer than `size` run and all are busy. */
  private pick(): PoolWorker {
    let best: PoolWorker | undefined
    for (const w of this.workers) if (best === undefined || w.pending.size < best.pending.size) best = w
    if (best !== undefined && (best.pending.size === 0 || this.workers.length >= this.size)) return best
    const w = new PoolWorker(PREAMBLE + this.jobSource, this.name, (self) => {
      const i = this.workers.indexOf(self)
      if (i >= 0) this.workers.splice(i, 1)
    })
    this.workers.push(w)
    return w
  }
}

/** The buffer's memory, when the buffer is the whole of it (so it can be moved to a worker); else undefined. */
export function ownMemory(buffer: Uint8Array): ArrayBuffer | undefined {
  return buffer.byteOffset === 0 && buffer.buffer instanceof ArrayBuffer && buffer.byteLength === buffer.buffer.byteLength ? buffer.buffer : undefined
}
