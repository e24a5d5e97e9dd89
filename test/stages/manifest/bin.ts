/**
 * The built sysbackup-manifest as a real process, fed by real processes:
 * an upstream stage killed mid-stream, the manifest stage itself
 * interrupted, a rerun that converges, and a big manifest checked with
 * the shell commands its man page gives.
 */
import t, { type Test } from 'tap'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../../src/config/load-config.js'
import type { Rec } from '../../../src/protocol/records.js'
import { openStore } from '../../../src/store/open-store.js'
import type { Store } from '../../../src/store/store.js'
import { keyTimestamp } from '../../../src/stages/run-identity.js'
import { ROOT } from '../../helpers/bin.js'
import { ndjson } from '../../helpers/entries.js'
import { parseRecords } from '../../helpers/io.js'
import { DAY, dirEntry, fileEntry, nested, readManifest, uploaded, versionKeys } from '../../helpers/manifest-inputs.js'

const RUN_TIME = new Date(Math.floor(Date.now() / 1000) * 1000)
const R = new Date(RUN_TIME.getTime() + 14 * DAY)
const STAMP = keyTimestamp(RUN_TIME)
const RUN_ARGS = ['--host', 'testhost', '--run-time', RUN_TIME.toISOString()]
const COMPLETE_KEY = `manifests/testhost/${STAMP}.ndjson.gz`
const INCOMPLETE_KEY = `manifests/testhost/${STAMP}.incomplete.ndjson.gz`
/** The children get the environment a user's shell would give them, without tap's hooks. */
const ENV = { ...process.env, NODE_OPTIONS: '' }

let configs = 0

/** A configuration with a local store and the given bash snapshotters. */
function config(t: Test, snapshotters: Record<string, string> = {}): string {
  if (!existsSync(t.testdirName)) t.testdir({})
  const dir = join(t.testdirName, `config-${++configs}`)
  mkdirSync(join(dir, 'snapshots.d'), { recursive: true })
  writeFileSync(join(dir, 'conf'), '[s3]\nbucket = file:store\n')
  for (const [name, body] of Object.entries(snapshotters)) writeFileSync(join(dir, 'snapshots.d', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 })
  return dir
}

const storeOf = (dir: string): Promise<Store> => openStore(loadConfig(dir, {}), { access: 'write' })

interface Finished { status: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, records: Rec[] }

/**
 * Starts `node bin/NAME.js args…` with the given stdin, collecting its
 * output; with `forward`, its standard output is left for another process
 * to read (see pipeInto) and only its standard error is collected.
 */
function start(name: string, args: string[], stdin: 'ignore' | NodeJS.ReadableStream = 'ignore', forward = false): { child: ChildProcess, done: Promise<Finished> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin', `${name}.js`), ...args], { stdio: [stdin as 'ignore', 'pipe', 'pipe'], env: ENV })
  let stdout = ''
  let stderr = ''
  if (!forward) child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const done = new Promise<Finished>((resolve) => child.on('exit', (status, signal) => {
    // 'exit' can come before the last output: wait for the streams too, but not for ever
    // (a child of a killed stage may still hold its standard error).
    const streams = forward ? [child.stderr!] : [child.stdout!, child.stderr!]
    const finish = () => resolve({ status, signal, stdout, stderr, records: forward ? [] : parseRecords(stdout) })
    const timer = setTimeout(finish, 2000)
    void Promise.all(streams.map((s) => s.readableEnded || s.destroyed ? undefined : new Promise((r) => s.once('close', r)))).then(() => {
      clearTimeout(timer)
      finish()
    })
  }))
  return { child, done }
}

/** `NAME args… | sysbackup-manifest manifestArgs…`: the upstream's standard output goes straight to the manifest. */
function pipeline(upstream: ChildProcess, args: string[]): { child: ChildProcess, done: Promise<Finished> } {
  const manifest = start('sysbackup-manifest', args, upstream.stdout!)
  // The manifest has its own copy of the pipe; ours would only compete with it.
  upstream.stdout!.destroy()
  return manifest
}

/** Kills a process left behind (a snapshotter whose stage was killed with SIGKILL cannot clean up). */
function killLeftover(pidFile: string): void {
  const pid = Number(readFileSync(pidFile, 'utf8'))
  // Never 0 (or NaN): kill(-0) would be our own process group.
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no process id in ${pidFile}`)
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // gone already
  }
}

/** Waits until `file` exists and is not empty (a script writes it with `echo … > file`). */
async function written(file: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (existsSync(file) && readFileSync(file, 'utf8').endsWith('\n')) return
    await sleep(25)
  }
  throw new Error(`${file} was not written`)
}

t.test('sysbackup-snap killed with SIGKILL mid-snapshot: the manifest says incomplete, at the .incomplete key, exit 1; a rerun converges', async (t) => {
  const marker = join(t.testdirName, 'go')
  const dir = config(t, {
    '10-quick': 'echo quick >&$1',
    '20-slow': `echo started >&$1; echo $$ > ${marker}.started; while [ ! -e ${marker} ]; do sleep 0.05; done; echo done >&$1`,
  })
  const snap = start('sysbackup-snap', ['--config', dir, ...RUN_ARGS], 'ignore', true)
  const manifest = pipeline(snap.child, ['--config', dir, ...RUN_ARGS])
  await written(`${marker}.started`)
  snap.child.kill('SIGKILL')
  killLeftover(`${marker}.started`)
  const m = await manifest.done
  t.equal((await snap.done).signal, 'SIGKILL')
  t.equal(m.status, 1, m.stderr)
  t.match(m.records.find((r) => r.type === 'manifest'), {
    key: INCOMPLETE_KEY, complete: false, reason: /^stdin: input ended at line 2 without the trailer of sysbackup-snap: the stream was cut off$/,
  })
  t.match(m.stderr, /sysbackup-manifest: stdin: input ended at line 2 without the trailer of sysbackup-snap/)
  const store = await storeOf(dir)
  t.same(await versionKeys(store, 'manifests/'), [INCOMPLETE_KEY], 'no manifest claims completeness')
  const cut = await readManifest(store, INCOMPLETE_KEY)
  t.match(cut.records.at(-1), { type: 'trailer', ok: false })
  t.match(cut.records.filter((r) => r.type === 'snapshot'), [{ name: '10-quick' }], 'what was stored is listed')

  // The rerun, with the same run time, as the timer or an administrator would start it.
  writeFileSync(marker, '')
  const rerunSnap = start('sysbackup-snap', ['--config', dir, ...RUN_ARGS], 'ignore', true)
  const rerun = await pipeline(rerunSnap.child, ['--config', dir, ...RUN_ARGS]).done
  t.equal((await rerunSnap.done).status, 0)
  t.equal(rerun.status, 0, rerun.stderr)
  t.match(rerun.records.find((r) => r.type === 'manifest'), { key: COMPLETE_KEY, complete: true, counts: { snapshots: 2 } })
  t.same((await versionKeys(store, 'manifests/')).sort(), [INCOMPLETE_KEY, COMPLETE_KEY], 'the incomplete one stays (nothing is deleted), the complete one is there')
  const complete = await readManifest(store, COMPLETE_KEY)
  t.same(complete.records.filter((r) => r.type === 'snapshot').map((r) => r.name), ['10-quick', '20-slow'])
  t.match(complete.records.at(-1), { type: 'trailer', ok: true })
})

t.test('sysbackup-snap stopped with SIGTERM: its trailer says not ok, so the manifest is incomplete, exit 1', async (t) => {
  const started = join(t.testdirName, 'started')
  const dir = config(t, { '10-slow': `echo x >&$1; echo $$ > ${started}; exec sleep 300` })
  const snap = start('sysbackup-snap', ['--config', dir, ...RUN_ARGS], 'ignore', true)
  const manifest = pipeline(snap.child, ['--config', dir, ...RUN_ARGS])
  await written(started)
  snap.child.kill('SIGTERM')
  t.equal((await snap.done).status, 130)
  const m = await manifest.done
  t.equal(m.status, 1, m.stderr)
  t.match(m.records.find((r) => r.type === 'manifest'), { key: INCOMPLETE_KEY, complete: false, reason: 'upstream sysbackup-snap: interrupted by SIGTERM' })
  t.same(await versionKeys(await storeOf(dir), 'manifests/'), [INCOMPLETE_KEY])
})

t.test('an upload stream killed mid-stream: incomplete, exit 1; what arrived is in the manifest', async (t) => {
  const dir = config(t)
  const store = await storeOf(dir)
  const body: Rec[] = [dirEntry('/srv')]
  for (let i = 0; i < 50; i++) body.push(await uploaded(store, fileEntry(`/srv/f${i}`, `content ${i}`), `content ${i}`, new Date(R.getTime() + 7 * DAY)))
  const records = nested(['sysbackup-upload', 'sysbackup-hash', 'sysbackup-pick'], body)
  const partial = join(t.testdirName, 'partial.ndjson')
  writeFileSync(partial, ndjson(records.slice(0, 30)))
  const upload = spawn('bash', ['-c', `cat '${partial}'; exec sleep 300`], { stdio: ['ignore', 'pipe', 'inherit'] })
  const manifest = pipeline(upload, ['--config', dir, ...RUN_ARGS])
  await sleep(500)
  upload.kill('SIGKILL')
  const m = await manifest.done
  t.equal(m.status, 1, m.stderr)
  t.match(m.records.find((r) => r.type === 'manifest'), {
    key: INCOMPLETE_KEY, complete: false, counts: { entries: 27 },
    reason: 'stdin: input ended at line 30 without the trailer of sysbackup-upload, sysbackup-hash, sysbackup-pick: the stream was cut off',
  })
  t.same(await versionKeys(store, 'manifests/'), [INCOMPLETE_KEY])
})

t.test('SIGTERM to sysbackup-manifest while it waits for input: exit 130, no manifest, no spill files left', async (t) => {
  const dir = config(t)
  const tmp = join(t.testdirName, 'tmp')
  mkdirSync(tmp)
  const body: Rec[] = []
  for (let i = 0; i < 3000; i++) body.push(dirEntry(`/d/${i}`))
  const partial = join(t.testdirName, 'partial.ndjson')
  writeFileSync(partial, ndjson(nested(['sysbackup-pick'], body).slice(0, -1)))
  const upstream = spawn('bash', ['-c', `cat '${partial}'; exec sleep 300`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { upstream.kill('SIGKILL') })
  const manifest = pipeline(upstream, ['--config', dir, ...RUN_ARGS, '--tmp-dir', tmp, '--sort-memory', '0.01'])
  for (let i = 0; i < 200 && readdirSync(tmp).length === 0; i++) await sleep(50)
  await sleep(300)
  t.not(readdirSync(tmp).length, 0, 'it had spilled sorted runs')
  manifest.child.kill('SIGTERM')
  const m = await manifest.done
  t.equal(m.status, 130, m.stderr)
  t.equal(m.records.find((r) => r.type === 'manifest'), undefined)
  t.match(m.records.at(-1), { type: 'trailer', ok: false, reason: 'interrupted by SIGTERM' })
  t.same(readdirSync(tmp), [], 'spill files removed')
  t.same(await versionKeys(await storeOf(dir), 'manifests/'), [])
})

t.test('20,000 entries through a tiny sort memory: sorted runs spilled and merged; the man page\'s digest check holds', async (t) => {
  const dir = config(t)
  const body: Rec[] = []
  // Reverse order, so nothing arrives sorted.
  for (let i = 20_000; i > 0; i--) body.push(dirEntry(`/tree/${(i * 7919) % 20_011}/${i}`))
  const input = join(t.testdirName, 'big.ndjson')
  writeFileSync(input, ndjson(nested(['sysbackup-pick'], body)))
  const output = join(t.testdirName, 'out.ndjson')
  const m = await start('sysbackup-manifest', ['--config', dir, ...RUN_ARGS, '--sort-memory', '0.25', '-o', output, input]).done
  t.equal(m.status, 0, m.stderr)
  const trailer = m.records.at(-1)!
  t.ok((trailer.counts as Record<string, number>).sortRuns! >= 10, `${(trailer.counts as Record<string, number>).sortRuns} sorted runs spilled`)
  const manifestRecord = m.records.find((r) => r.type === 'manifest')!
  t.match(manifestRecord, { key: COMPLETE_KEY, complete: true, counts: { entries: 20_000, dirs: 20_000 } })
  const object = join(dir, 'store', COMPLETE_KEY, manifestRecord.versionId as string)
  const digest = execFileSync('sh', ['-c', `zcat '${object}' | head -n -1 | sha256sum`], { encoding: 'utf8' }).split(' ')[0]
  t.equal(`sha256:${digest}`, manifestRecord.digest, 'zcat m.ndjson.gz | head -n -1 | sha256sum')
  const paths = execFileSync('sh', ['-c', `zcat '${object}' | jq -r 'select(.type == "dir") | .path'`], { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n')
  t.equal(paths.length, 20_000)
  t.same(paths, [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), 'sorted')
  t.equal(execFileSync('sh', ['-c', `zcat '${object}' | cmp - '${output}' && echo same`], { encoding: 'utf8' }), 'same\n', '--output is the uncompressed manifest')
})
