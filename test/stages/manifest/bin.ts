/**
 * The built sysbackup-manifest as a real process, fed by real processes:
 * an upstream stage killed mid-stream, the manifest stage itself
 * interrupted, a rerun that converges, and a big manifest checked with
 * the shell commands its man page gives.
 */
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../../src/config/load-config.js'
import type { Rec } from '../../../src/protocol/records.js'
import { openStore } from '../../../src/store/open-store.js'
import type { Store } from '../../../src/store/store.js'
import { keyTimestamp } from '../../../src/stages/run-identity.js'
import { ROOT, runBin } from '../../helpers/bin.js'
import { ndjson } from '../../helpers/entries.js'
import { parseRecords } from '../../helpers/io.js'
import { DAY, dirEntry, fileEntry, nested, readManifest, uploaded, versionKeys } from '../../helpers/manifest-inputs.js'
import { testDir } from '../../helpers/files.js'

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
  const dir = join(testDir(t), `config-${++configs}`)
  mkdirSync(join(dir, 'snapshots.d'), { recursive: true })
  writeFileSync(join(dir, 'conf'), '[s3]\nbucket = file:store\n')
  for (const [name, body] of Object.entries(snapshotters)) writeFileSync(join(dir, 'snapshots.d', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 })
  return dir
}

const storeOf = (dir: string): Promise<Store> => openStore(loadConfig(dir, {}), { access: 'write' })

interface Finished { status: number | null, stdout: string, stderr: string, records: Rec[] }

const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`
const bin = (name: string) => `${quote(process.execPath)} ${quote(join(ROOT, 'bin', `${name}.js`))}`

interface Pipeline {
  /** Process ids of the upstream command and of sysbackup-manifest, once they have started. */
  upstreamPid(): Promise<number>
  manifestPid(): Promise<number>
  /** The upstream's exit status (128 + signal when killed). */
  upstreamStatus(): Promise<number>
  /** sysbackup-manifest's exit status and output. */
  done: Promise<Finished>
  /** For messages: what the pipeline has printed on standard error so far. */
  stderr(): string
}

/**
 * `UPSTREAM | sysbackup-manifest ARGS…` run by bash, as a user would type
 * it: the pipe between the two is the shell's, so this test process never
 * touches the records in between. UPSTREAM is a shell command.
 */
function shellPipeline(t: Test, upstream: string, manifestArgs: string[]): Pipeline {
  const dir = join(t.testdirName, `pipeline-${++configs}`)
  mkdirSync(dir, { recursive: true })
  const file = (name: string) => join(dir, name)
  const command = `( ${upstream} & echo $! > ${quote(file('up.pid'))}; wait $!; echo $? > ${quote(file('up.status'))} )`
    + ` | { echo $BASHPID > ${quote(file('m.pid'))}; exec ${bin('sysbackup-manifest')} ${manifestArgs.map(quote).join(' ')}; }`
  const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const done = new Promise<Finished>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr, records: parseRecords(stdout) })))
  const number = async (name: string) => {
    await written(file(name))
    return Number(readFileSync(file(name), 'utf8'))
  }
  return { upstreamPid: () => number('up.pid'), manifestPid: () => number('m.pid'), upstreamStatus: () => number('up.status'), done, stderr: () => stderr }
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

/**
 * Waits until `file` exists and is not empty (a script writes it with
 * `echo … > file`); `context` tells what else to say when it never is.
 */
async function written(file: string, context: () => string = () => ''): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (existsSync(file) && readFileSync(file, 'utf8').endsWith('\n')) return
    await sleep(25)
  }
  throw new Error(`${file} was not written in 30 s${context()}`)
}

t.test('sysbackup-snap killed with SIGKILL mid-snapshot: the manifest says incomplete, at the .incomplete key, exit 1; a rerun converges', async (t) => {
  const marker = join(t.testdirName, 'go')
  const dir = config(t, {
    '10-quick': 'echo quick >&$1',
    '20-slow': `echo started >&$1; echo $$ > ${marker}.started; while [ ! -e ${marker} ]; do sleep 0.05; done; echo done >&$1`,
  })
  const snap = `${bin('sysbackup-snap')} --config ${quote(dir)} ${RUN_ARGS.map(quote).join(' ')}`
  const first = shellPipeline(t, snap, ['--config', dir, ...RUN_ARGS])
  await written(`${marker}.started`, () => `; the pipeline said: ${first.stderr()}`)
  process.kill(await first.upstreamPid(), 'SIGKILL')
  killLeftover(`${marker}.started`)
  const m = await first.done
  t.equal(await first.upstreamStatus(), 137, 'sysbackup-snap was killed')
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
  const rerun = shellPipeline(t, snap, ['--config', dir, ...RUN_ARGS])
  const r = await rerun.done
  t.equal(await rerun.upstreamStatus(), 0)
  t.equal(r.status, 0, r.stderr)
  t.match(r.records.find((x) => x.type === 'manifest'), { key: COMPLETE_KEY, complete: true, counts: { snapshots: 2 } })
  t.same((await versionKeys(store, 'manifests/')).sort(), [INCOMPLETE_KEY, COMPLETE_KEY], 'the incomplete one stays (nothing is deleted), the complete one is there')
  const complete = await readManifest(store, COMPLETE_KEY)
  t.same(complete.records.filter((x) => x.type === 'snapshot').map((x) => x.name), ['10-quick', '20-slow'])
  t.match(complete.records.at(-1), { type: 'trailer', ok: true })
})

t.test('sysbackup-snap stopped with SIGTERM: its trailer says not ok, so the manifest is incomplete, exit 1', async (t) => {
  const started = join(t.testdirName, 'started')
  const dir = config(t, { '10-slow': `echo x >&$1; echo $$ > ${started}; exec sleep 300` })
  const p = shellPipeline(t, `${bin('sysbackup-snap')} --config ${quote(dir)} ${RUN_ARGS.map(quote).join(' ')}`, ['--config', dir, ...RUN_ARGS])
  await written(started, () => `; the pipeline said: ${p.stderr()}`)
  process.kill(await p.upstreamPid(), 'SIGTERM')
  const m = await p.done
  t.equal(await p.upstreamStatus(), 130)
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
  const p = shellPipeline(t, `{ cat ${quote(partial)}; exec sleep 300; }`, ['--config', dir, ...RUN_ARGS])
  const upload = await p.upstreamPid()
  await sleep(300)
  process.kill(upload, 'SIGKILL')
  const m = await p.done
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
  const p = shellPipeline(t, `{ cat ${quote(partial)}; exec sleep 300; }`, ['--config', dir, ...RUN_ARGS, '--tmp-dir', tmp, '--sort-memory', '0.01'])
  const upstream = await p.upstreamPid()
  t.teardown(() => { try { process.kill(upstream, 'SIGKILL') } catch { /* gone */ } })
  for (let i = 0; i < 200 && readdirSync(tmp).length === 0; i++) await sleep(50)
  await sleep(300)
  t.not(readdirSync(tmp).length, 0, 'it had spilled sorted runs')
  process.kill(await p.manifestPid(), 'SIGTERM')
  process.kill(upstream, 'SIGKILL')
  const m = await p.done
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
  const m = await runBin('sysbackup-manifest', ['--config', dir, ...RUN_ARGS, '--sort-memory', '0.25', '-o', output, input])
  t.equal(m.status, 0, m.stderr)
  const trailer = m.records().at(-1)!
  t.ok((trailer.counts as Record<string, number>).sortRuns! >= 10, `${(trailer.counts as Record<string, number>).sortRuns} sorted runs spilled`)
  const manifestRecord = m.records().find((r) => r.type === 'manifest')!
  t.match(manifestRecord, { key: COMPLETE_KEY, complete: true, counts: { entries: 20_000, dirs: 20_000 } })
  const object = join(dir, 'store', COMPLETE_KEY, manifestRecord.versionId as string)
  const digest = execFileSync('sh', ['-c', `zcat '${object}' | head -n -1 | sha256sum`], { encoding: 'utf8' }).split(' ')[0]
  t.equal(`sha256:${digest}`, manifestRecord.digest, 'zcat m.ndjson.gz | head -n -1 | sha256sum')
  const paths = execFileSync('sh', ['-c', `zcat '${object}' | jq -r 'select(.type == "dir") | .path'`], { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n')
  t.equal(paths.length, 20_000)
  t.same(paths, [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), 'sorted')
  t.equal(execFileSync('sh', ['-c', `zcat '${object}' | cmp - '${output}' && echo same`], { encoding: 'utf8' }), 'same\n', '--output is the uncompressed manifest')
})
