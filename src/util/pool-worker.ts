/**
 * The main of every WorkerPool worker (see worker-pool.ts): it loads the
 * job module named in its workerData, then answers each message with
 * `job(message)`, in order: the answer is posted with the buffers the job
 * moves (`transfer`); a thrown error is answered with its message, code
 * and syscall.
 *
 * Why the worker collects its own young garbage every 8 MiB of `bytes`
 * handled: its buffers live outside its JS heap, and a heap that hardly
 * grows is collected only once 64 MiB more of them are held. The
 * 20,000-file restore's decode worker peaked ~20 MB higher without this
 * (244-253 MB against 222-231). `gc` is exposed the way this project
 * already sets V8 flags at start (heap-growth.ts), and is reached through
 * a new context, which is where V8 installs it.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { parentPort, workerData } from 'node:worker_threads'
import type { JobDone } from './worker-pool.js'

const COLLECT_EVERY_BYTES = 8 * 1024 * 1024

setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as (options: { type: 'minor' }) => void
// Messages wait in the port until the listener below is added.
const { job } = await import((workerData as { job: string }).job) as { job: (message: object) => JobDone }
let handled = 0

parentPort!.on('message', (m: { id: number }) => {
  let done
  try {
    done = job(m)
  } catch (err) {
    const e = err as NodeJS.ErrnoException | undefined
    parentPort!.postMessage({ id: m.id, error: { message: String(e?.message), code: e?.code, syscall: e?.syscall } })
    return
  }
  parentPort!.postMessage({ id: m.id, answer: done.answer }, done.transfer)
  handled += done.bytes
  if (handled >= COLLECT_EVERY_BYTES) {
    handled = 0
    collect({ type: 'minor' })
  }
})
