import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/bin.js'
import { ownMemory, WorkerPool } from '../../src/util/worker-pool.js'

const ECHO = new URL('../fixtures/echo-job.js', import.meta.url)

t.test('jobs are answered in order, over up to `size` workers; errors keep their code and syscall', async (t) => {
  const pool = new WorkerPool(ECHO, 'test', 2)
  t.teardown(() => pool.close())
  const answers = await Promise.all(Array.from({ length: 20 }, (_, n) => pool.run<{ n: number, thread: number }>({ n })))
  t.same(answers.map((a) => a.n), Array.from({ length: 20 }, (_, n) => n * 2))
  t.equal(new Set(answers.map((a) => a.thread)).size, 2, 'two workers shared the work')
  await t.rejects(pool.run({ fail: true }), { message: 'asked to fail', code: 'EFAIL', syscall: 'job' })
  t.match(await pool.run({ n: 5 }), { n: 10 }, 'the pool goes on after an error')
})

t.test('a worker that ends fails what it was given; the next request starts another', async (t) => {
  const pool = new WorkerPool(ECHO, 'test', 1)
  t.teardown(() => pool.close())
  const first = await pool.run<{ thread: number }>({ n: 1 })
  await t.rejects(pool.run({ exit: 3 }), /the test worker exited \(status 3\)/)
  const next = await pool.run<{ n: number, thread: number }>({ n: 2 })
  t.equal(next.n, 4)
  t.not(next.thread, first.thread, 'a new thread')
})

t.test('moved buffers are detached here; the job sees their bytes', async (t) => {
  const pool = new WorkerPool(ECHO, 'test', 1)
  t.teardown(() => pool.close())
  const own = Buffer.from(new ArrayBuffer(10_000))
  t.equal(ownMemory(own), own.buffer)
  t.equal(ownMemory(own.subarray(1)), undefined, 'a slice is not the whole of its memory')
  t.equal((await pool.run<{ length: number }>({ n: 0, body: own }, [own.buffer])).length, 10_000)
  t.equal(own.buffer.byteLength, 0)
})

t.test('the worker collects its own garbage after 8 MiB, and goes on', async (t) => {
  const pool = new WorkerPool(ECHO, 'test', 1)
  t.teardown(() => pool.close())
  const first = await pool.run<{ thread: number }>({ n: 1, body: new Uint8Array(9 * 1024 * 1024) })
  // A failed collection would have ended the worker: the next job would go to another thread.
  const next = await pool.run<{ n: number, thread: number }>({ n: 2 })
  t.equal(next.n, 4)
  t.equal(next.thread, first.thread, 'the same worker')
})

t.test('a job module that cannot be loaded fails what was asked of it', async (t) => {
  const pool = new WorkerPool(new URL('../fixtures/no-such-job.js', import.meta.url), 'test', 1)
  t.teardown(() => pool.close())
  await t.rejects(pool.run({ n: 1 }), /no-such-job/)
})

t.test('closed, it takes nothing more; idle and never closed, it holds up no exit', async (t) => {
  const pool = new WorkerPool(ECHO, 'test', 1)
  await pool.run({ n: 1 })
  await pool.close()
  await t.rejects(pool.run({ n: 1 }), /the test workers are closed/)
  // The built pool in a plain node process, with a job module of plain JavaScript.
  const dir = t.testdir({ 'job.mjs': 'export function job(m) { return { answer: { n: m.n * 2 }, transfer: [], bytes: 0 } }\n' })
  const script = `import(${JSON.stringify(join(ROOT, 'dist/util/worker-pool.js'))}).then(async ({ WorkerPool }) => {
    const pool = new WorkerPool(new URL(${JSON.stringify(pathToFileURL(join(dir, 'job.mjs')).href)}), 'idle', 1)
    console.log(JSON.stringify(await pool.run({ n: 21 })))
  })`
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
  t.equal(child.signal, null, 'not killed by the timeout')
  t.equal(child.status, 0, child.stderr)
  t.match(child.stdout, /"n":42/)
})
