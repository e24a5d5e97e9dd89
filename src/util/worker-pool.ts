import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/** The worker's main: pool-worker.ts, or its build. */
const WORKER_MAIN = new URL('./pool-worker.js', import.meta.url)

/**
 * What a pool's job returns. The job is exported as `job(message)` by its
 * module and is synchronous (a worker does one at a time): its answer,
 * the buffers moved with it to the asking thread (`transfer`), and the
 * bytes it handled, which pace the worker's collections (pool-worker.ts).
 */
export interface JobDone {
  answer: unknown
  transfer: ArrayBuffer[]
  bytes: number
}

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

  constructor(jobModule: URL, name: string, private readonly onEnd: (self: PoolWorker) => void) {
    this.worker = new Worker(WORKER_MAIN, { workerData: { job: jobModule.href }, stdout: false, stderr: false, name })
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
 * Worker threads that run one job, exported as `job` (a PoolJob) by the
 * module at `jobModule` (`new URL('./x.js', import.meta.url)`: the build's
 * file, or under the test runner the TypeScript source). For work that is the same
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

  constructor(private readonly jobModule: URL, private readonly name: string, private readonly size = Math.max(1, availableParallelism() - 1)) {}

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
    const w = new PoolWorker(this.jobModule, this.name, (self) => {
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
