import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { GroupProcess, type GroupProcessOptions } from '../../src/util/process-group.js'

/** Writes an executable shell script and returns its path. */
function script(dir: string, name: string, body: string): string {
  const path = join(dir, name)
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 })
  return path
}

function options(overrides: Partial<GroupProcessOptions> = {}): GroupProcessOptions & { stderr: PassThrough } {
  return { timeoutSeconds: 0, graceMs: 200, env: process.env, stderr: new PassThrough(), signal: new AbortController().signal, ...overrides } as GroupProcessOptions & { stderr: PassThrough }
}

async function collect(run: GroupProcess): Promise<string> {
  let out = ''
  for await (const chunk of run.output()) out += chunk.toString('latin1')
  return out
}

/** Whether process `pid` is running (a zombie waiting to be reaped is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

t.test('runs in /, stdin from /dev/null, in its own process group; stderr passed through', async (t) => {
  const dir = t.testdir({})
  const opts = options()
  let stderr = ''
  opts.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const run = new GroupProcess(script(dir, 'p', 'pwd; cat; echo $$ $(cut -d" " -f5 /proc/$$/stat); echo oops >&2'), opts)
  const [cwd, ids] = (await collect(run)).trim().split('\n')
  t.equal(cwd, '/')
  const [pid, pgrp] = ids!.split(' ')
  t.equal(pid, pgrp, 'the picker leads its own process group')
  t.same(await run.outcome(), { status: 0, signal: null, timedOut: false, aborted: false })
  t.equal(stderr, 'oops\n')
})

t.test('output arrives while the picker is still running', async (t) => {
  const dir = t.testdir({})
  const go = join(dir, 'go')
  const run = new GroupProcess(script(dir, 'p', `echo /first; while [ ! -e ${go} ]; do sleep 0.02; done; echo /second`), options())
  const chunks = run.output()
  const first = await chunks.next()
  t.equal(first.value?.toString(), '/first\n', 'first path before the picker goes on')
  writeFileSync(go, '')
  let rest = ''
  for await (const chunk of chunks) rest += chunk.toString()
  t.equal(rest, '/second\n')
  t.equal((await run.outcome()).status, 0)
})

t.test('a non-zero exit status and a picker that cannot start', async (t) => {
  const dir = t.testdir({})
  const failing = new GroupProcess(script(dir, 'fail', 'echo /etc/hosts; exit 3'), options())
  t.equal(await collect(failing), '/etc/hosts\n')
  t.match(await failing.outcome(), { status: 3, timedOut: false })
  writeFileSync(join(dir, 'badinterp'), '#!/nonexistent/interpreter\n', { mode: 0o755 })
  const bad = new GroupProcess(join(dir, 'badinterp'), options())
  t.equal(await collect(bad), '')
  t.match(await bad.outcome(), { spawnError: { code: 'ENOENT' } })
})

t.test('timeout: SIGTERM to the whole group, output before it kept', async (t) => {
  const dir = t.testdir({})
  const pidFile = join(dir, 'pid')
  const run = new GroupProcess(script(dir, 'hang', `sleep 300 & echo $! > ${pidFile}; echo /before; wait`), options({ timeoutSeconds: 0.3 }))
  const started = Date.now()
  t.equal(await collect(run), '/before\n')
  t.match(await run.outcome(), { timedOut: true, signal: 'SIGTERM' })
  t.ok(Date.now() - started < 5000)
  const sleepPid = Number(readFileSync(pidFile, 'utf8'))
  await sleep(100)
  t.ok(alive(process.pid), 'alive() sees a running process')
  t.notOk(alive(sleepPid), 'the sleep it started was killed too')
})

t.test('timeout: SIGKILL after the grace period for a picker that ignores SIGTERM', async (t) => {
  const dir = t.testdir({})
  const run = new GroupProcess(script(dir, 'stubborn', "trap '' TERM; echo /x; sleep 300"), options({ timeoutSeconds: 0.2, graceMs: 300 }))
  t.equal(await collect(run), '/x\n')
  t.match(await run.outcome(), { timedOut: true, signal: 'SIGKILL' })
})

t.test('time spent blocked on a full pipe because we read slowly does not count', async (t) => {
  const dir = t.testdir({})
  // 400 KiB: far more than a pipe holds, so the picker blocks until we read.
  const run = new GroupProcess(script(dir, 'big', 'i=0; while [ $i -lt 4000 ]; do printf "%0100d\\n" $i; i=$((i+1)); done'), options({ timeoutSeconds: 0.5 }))
  let bytes = 0
  let first = true
  for await (const chunk of run.output()) {
    bytes += chunk.length
    if (first) await sleep(800) // longer than the timeout, but the picker is waiting on us
    first = false
  }
  t.equal(bytes, 4000 * 101)
  t.match(await run.outcome(), { status: 0, timedOut: false })
})

t.test('aborting kills the picker', async (t) => {
  const dir = t.testdir({})
  const controller = new AbortController()
  const run = new GroupProcess(script(dir, 'forever', 'echo /x; exec sleep 300'), options({ signal: controller.signal }))
  const chunks = run.output()
  await chunks.next()
  controller.abort()
  for await (const chunk of chunks) t.fail(`unexpected ${chunk.toString()}`)
  t.match(await run.outcome(), { aborted: true, signal: 'SIGTERM' })
})

t.test('stopping the output early kills the picker', async (t) => {
  const dir = t.testdir({})
  const pidFile = join(dir, 'pid')
  const run = new GroupProcess(script(dir, 'forever', `echo $$ > ${pidFile}; echo /x; exec sleep 300`), options())
  for await (const chunk of run.output()) {
    t.equal(chunk.toString(), '/x\n')
    break
  }
  t.match(await run.outcome(), { signal: 'SIGTERM' })
  t.notOk(alive(Number(readFileSync(pidFile, 'utf8'))))
})

t.test('arguments, an extra output on fd 3, and standard output collected at the same time', async (t) => {
  const dir = t.testdir({})
  const run = new GroupProcess(script(dir, 'snap', 'echo "args: $#:$1"; printf snapshot >&$1; echo done'), options({ args: ['3'], extraOutputs: 1 }))
  let stdout = ''
  run.collect(1, (chunk) => { stdout += chunk.toString() })
  let fd3 = ''
  for await (const chunk of run.output(3)) fd3 += chunk.toString()
  t.equal(fd3, 'snapshot')
  t.same(await run.outcome(), { status: 0, signal: null, timedOut: false, aborted: false })
  t.equal(stdout, 'args: 1:3\ndone\n', 'outcome() waits for the collected output to end')
  await t.rejects(run.output(4).next(), RangeError)
})

t.test('a collected output still open after the exit is waited for, within the timeout', async (t) => {
  const dir = t.testdir({})
  // The background sleep keeps standard output open after the script exits.
  const run = new GroupProcess(script(dir, 'lingering', 'echo first; (sleep 300; echo late) & exit 0'), options({ timeoutSeconds: 0.4 }))
  let stdout = ''
  run.collect(1, (chunk) => { stdout += chunk.toString() })
  const outcome = await run.outcome()
  t.equal(stdout, 'first\n')
  t.match(outcome, { status: 0, timedOut: true }, 'the group was killed when its time was up')
})

t.test('stop() kills the whole group and the outcome says aborted', async (t) => {
  const dir = t.testdir({})
  const pidFile = join(dir, 'pid')
  const run = new GroupProcess(script(dir, 'forever', `sleep 300 & echo $! > ${pidFile}; echo /x; wait`), options())
  const chunks = run.output()
  await chunks.next()
  run.stop()
  for await (const chunk of chunks) t.fail(`unexpected ${chunk.toString()}`)
  t.match(await run.outcome(), { aborted: true, timedOut: false, signal: 'SIGTERM' })
  await sleep(100)
  t.notOk(alive(Number(readFileSync(pidFile, 'utf8'))), 'its child was killed too')
})
