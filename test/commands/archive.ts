import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { createHash, randomBytes } from 'node:crypto'
import { runBin, type BinResult } from '../helpers/bin.js'
import { testDir } from '../helpers/files.js'
import { parseRecords } from '../helpers/io.js'
import { LOCAL_STORE, motoStore, type FreshStore, type StoreKind } from '../helpers/store-kinds.js'
import type { Rec } from '../../src/protocol/records.js'
import type { Store } from '../../src/store/store.js'
import { schedulingPolicyOf } from '../../src/archive/cpu-scheduling.js'

// s3-sysbackup archive as a real process: the stages chained (inside the
// wrapper, or as processes over pipes), the run lock, the exit status and
// the summary, on both stores.

const MOTO = motoStore(t)

interface Machine {
  store: FreshStore
  stateDir: string
  tree: string
  /** Runs `s3-sysbackup archive` with this machine's configuration. */
  archive(...extra: string[]): Promise<BinResult>
}

/** A configuration directory with one picker over a small tree and one snapshotter. */
async function machine(t: Test, kind: StoreKind, snapshotter = 'echo "demo dump"\necho "::restore-through::cat > /tmp/restored"\necho dump-bytes >&$1\n'): Promise<Machine> {
  const store = await kind.fresh(t, '[content]\ndays_retained = 3\n')
  const root = testDir(t)
  const tree = join(root, 'tree')
  mkdirSync(join(tree, 'etc'), { recursive: true })
  mkdirSync(join(tree, 'bin'))
  writeFileSync(join(tree, 'etc', 'app.conf'), 'key = value\n'.repeat(50))
  writeFileSync(join(tree, 'etc', 'other.conf'), 'x = 1\n')
  writeFileSync(join(tree, 'bin', 'tool'), '#!/bin/sh\necho hi\n')
  mkdirSync(join(store.configDir, 'pickers.d'))
  mkdirSync(join(store.configDir, 'snapshots.d'))
  writeFileSync(join(store.configDir, 'pickers.d', '10-tree'), `#!/bin/sh\nfind '${tree}' -print0\n`)
  writeFileSync(join(store.configDir, 'snapshots.d', '10-dump'), `#!/bin/bash\n${snapshotter}`)
  chmodSync(join(store.configDir, 'pickers.d', '10-tree'), 0o755)
  chmodSync(join(store.configDir, 'snapshots.d', '10-dump'), 0o755)
  const stateDir = join(root, 'state')
  return {
    store,
    stateDir,
    tree,
    archive: (...extra) => runBin('s3-sysbackup', ['archive', '--config', store.configDir, '--state-dir', stateDir, '--host', 'box1', ...extra], { env: kind.env, timeoutMs: 120_000 }),
  }
}

async function manifestKeys(store: Store): Promise<string[]> {
  const keys: string[] = []
  for await (const page of store.listLatest('manifests/')) keys.push(...page.map((p) => p.key))
  return keys
}

for (const kind of [LOCAL_STORE, MOTO]) {
  t.test(`${kind.name}: a complete run, then an unchanged run that stores no content`, async (t) => {
    const m = await machine(t, kind)
    const first = await m.archive('--json')
    t.equal(first.status, 0, first.stderr)
    const summary = JSON.parse(first.stdout) as Record<string, unknown>
    t.match(summary, { outcome: 'complete', exitStatus: 0, host: 'box1', files: 3, snapshots: 1, errors: 0, contentsStored: 3 })
    t.match(summary.manifest, { key: /^manifests\/box1\/\d{8}T\d{6}Z\.ndjson\.gz$/ })
    t.ok((summary.requests as Record<string, number>).PutObject! >= 5, '3 contents, a snapshot and the manifest were stored')

    const store = await m.store.open()
    const key = (summary.manifest as { key: string }).key
    const { info, body } = await store.get(key)
    t.ok(info.lockMode && info.retainUntil && info.retainUntil.getTime() > Date.now() + 2.9 * 86_400_000, 'the manifest is locked for days_retained')
    const chunks: Buffer[] = []
    for await (const c of body) chunks.push(c as Buffer)
    const records = parseRecords(gunzipSync(Buffer.concat(chunks)).toString('utf8'))
    const files = records.filter((r) => r.type === 'file')
    t.equal(files.length, 3)
    for (const f of files) {
      const bytes = readFileSync(f.path as string)
      t.equal(f.sha256, createHash('sha256').update(bytes).digest('hex'), `${String(f.path)} hashed right`)
      t.equal(f.key, `content/${String(f.sha256)}`)
      t.ok(await store.head(f.key as string, f.versionId as string), 'its content version exists')
    }
    t.ok(records.some((r) => r.type === 'snapshot' && r.restoreThrough === 'cat > /tmp/restored'), 'the snapshot and its restore command are in the manifest')
    t.match(records.at(-1), { type: 'trailer', producer: 'sysbackup-manifest', ok: true })

    const second = await m.archive('--json')
    t.equal(second.status, 0, second.stderr)
    const again = JSON.parse(second.stdout) as { contentsStored: number, contentsReused: number, requests: Record<string, number> }
    t.equal(again.contentsStored, 0, 'nothing new stored')
    t.equal(again.contentsReused, 3)
    t.equal(again.requests.HeadObject ?? 0, 0, 'no content looked up: the state cache knew it')
    t.equal(again.requests.ListObjectVersions ?? 0, 0)
  })

  t.test(`${kind.name}: a failing snapshotter makes the run incomplete (exit 1) and says so in the key`, async (t) => {
    const m = await machine(t, kind, 'echo partial >&$1\nexit 4\n')
    const run = await m.archive()
    t.equal(run.status, 1, run.stderr)
    t.match(run.stdout, /^archive: incomplete: manifests\/box1\/\d{8}T\d{6}Z\.incomplete\.ndjson\.gz/)
    t.match(run.stderr, /sysbackup-snap: .*10-dump.*4/)
    const keys = await manifestKeys(await m.store.open())
    t.equal(keys.length, 1)
    t.match(keys[0], /\.incomplete\.ndjson\.gz$/)
  })
}

t.test('--dry-run stores nothing and says what it would cost', async (t) => {
  const m = await machine(t, LOCAL_STORE)
  const run = await m.archive('--dry-run')
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /^archive: dry run: /)
  t.match(run.stdout, /would store 3 new contents/)
  t.match(run.stdout, /estimated cost \$\d+\.\d{6}/)
  t.same(await manifestKeys(await m.store.open()), [], 'no manifest stored')
})

t.test('the run lock: a second run gives up at once, or waits with --wait', async (t) => {
  const m = await machine(t, LOCAL_STORE)
  mkdirSync(m.stateDir, { recursive: true })
  const lockFile = join(m.stateDir, 'archive.lock')
  writeFileSync(lockFile, '')
  const holder = spawn('flock', ['-x', lockFile, 'sleep', '3'], { stdio: 'ignore' })
  t.teardown(() => { holder.kill() })
  await new Promise((r) => setTimeout(r, 300))
  const busy = await m.archive()
  t.equal(busy.status, 3)
  t.match(busy.stderr, /^s3-sysbackup archive: another archive run holds .*archive\.lock; this run did not start \(see --wait\)$/m)
  t.same(await manifestKeys(await m.store.open()), [], 'the refused run did nothing')

  const waited = await m.archive('--wait', '30')
  t.equal(waited.status, 0, waited.stderr)
  t.equal((await manifestKeys(await m.store.open())).length, 1, 'the waiting run ran once the lock was free')
})

t.test('bad configuration: exit 2 before anything runs', async (t) => {
  const m = await machine(t, LOCAL_STORE)
  writeFileSync(join(m.store.configDir, 'conf'), '[content]\ndays_retained = many\n')
  const run = await m.archive()
  t.equal(run.status, 2)
  t.match(run.stderr, /^s3-sysbackup archive: .*conf:2: \[content\] days_retained: "many" is not a whole number$/m)
  t.equal(run.stdout, '')
  const usage = await runBin('s3-sysbackup', ['archive', '--wait=-1'])
  t.equal(usage.status, 2)
  t.match(usage.stderr, '--wait: -1 is negative')
})

t.test('--limit-upload holds the run\'s uploads to the rate, in process or as processes; a rate that is not one stops it before anything runs', async (t) => {
  for (const extra of [[], ['--stage-processes']]) {
    await t.test(extra.join(' ') || 'in process', async (t) => {
      const m = await machine(t, LOCAL_STORE)
      // Random bytes, so gzip cannot shrink them below the limit's reach: 512 KiB at 256 KiB/s.
      writeFileSync(join(m.tree, 'etc', 'random.bin'), randomBytes(512 * 1024))
      const started = performance.now()
      const run = await m.archive('--limit-upload', '256K', ...extra)
      const seconds = (performance.now() - started) / 1000
      t.equal(run.status, 0, run.stderr)
      t.match(run.stderr, /^s3-sysbackup archive: run \S+ of box1, retained until \S+, uploads limited to 256 KiB\/s$/m, 'the run says it is limited')
      t.ok(seconds >= 1.7, `512 KiB stored in ${seconds.toFixed(2)} s at 256 KiB/s`)
      const held = /^  time [\d.]+ s, ([\d.]+) s of it with uploads held back by the upload limit$/m.exec(run.stdout)
      t.ok(held, 'the summary says how long the limit held uploads back')
      // 512 KiB at 256 KiB/s is 2 s, a quarter of it allowed ahead: at least 1.75 s held, and never more than the run.
      t.ok(Number(held?.[1]) >= 1.7 && Number(held?.[1]) <= seconds, `held back ${held?.[1]} s of ${seconds.toFixed(2)}`)
    })
  }
  await t.test('no limit, nothing held back', async (t) => {
    const m = await machine(t, LOCAL_STORE)
    const run = await m.archive('--json')
    t.equal(run.status, 0, run.stderr)
    t.equal((JSON.parse(run.stdout) as { limitHeldSeconds: number }).limitHeldSeconds, 0)
  })
  await t.test('not a rate', async (t) => {
    const m = await machine(t, LOCAL_STORE)
    const bad = await m.archive('--limit-upload', 'fast')
    t.equal(bad.status, 2)
    t.equal(bad.stderr, 's3-sysbackup archive: --limit-upload "fast" is not a rate: give bytes a second, with K, M or G for KiB, MiB or GiB (e.g. 512K, 4M)\n')
    t.same(await manifestKeys(await m.store.open()), [], 'nothing stored')
  })
})

t.test('--gzip-level reaches the upload stage, in process or as processes; a level out of range stops the run before anything runs', async (t) => {
  const text = 'key = value\n'.repeat(50)
  const key = `content/${createHash('sha256').update(text).digest('hex')}`
  for (const [extra, encoding] of [[[], 'gzip'], [['--gzip-level', '0'], 'identity'], [['--gzip-level', '0', '--stage-processes'], 'identity'], [['--gzip-level', '9', '--stage-processes'], 'gzip']] as const) {
    await t.test(extra.join(' ') || 'default', async (t) => {
      const m = await machine(t, LOCAL_STORE)
      const run = await m.archive(...extra)
      t.equal(run.status, 0, run.stderr)
      const info = await (await m.store.open()).head(key)
      t.equal(info?.metadata.encoding, encoding, `etc/app.conf stored ${encoding}`)
    })
  }
  await t.test('out of range', async (t) => {
    const m = await machine(t, LOCAL_STORE)
    const bad = await m.archive('--gzip-level', '12')
    t.equal(bad.status, 2)
    t.equal(bad.stderr, 's3-sysbackup archive: option --gzip-level: 12 is not a whole number from 0 to 9\n')
    t.same(await manifestKeys(await m.store.open()), [], 'nothing stored')
  })
})

t.test('the stages run inside the wrapper by default, as processes with --stage-processes, with the same manifest', async (t) => {
  const m = await machine(t, LOCAL_STORE)
  // The picker notes the command line of the process that ran it.
  const parentFile = join(testDir(t), 'picker-parent')
  writeFileSync(join(m.store.configDir, 'pickers.d', '05-note-parent'), `#!/bin/sh\ntr '\\0' ' ' < /proc/$PPID/cmdline > '${parentFile}'\n`)
  chmodSync(join(m.store.configDir, 'pickers.d', '05-note-parent'), 0o755)
  const entriesOf = async (run: BinResult) => {
    t.equal(run.status, 0, run.stderr)
    const { key } = (JSON.parse(run.stdout) as { manifest: { key: string } }).manifest
    const { body } = await (await m.store.open()).get(key)
    const chunks: Buffer[] = []
    for await (const c of body) chunks.push(c as Buffer)
    const records = parseRecords(gunzipSync(Buffer.concat(chunks)).toString('utf8'))
    const stages = records.filter((r) => r.type === 'stage').map((r) => [r.producer, (r.trailer as { ok?: boolean } | undefined)?.ok])
    // The tree's own entries: its ancestors (/tmp…) change as other tests come and go.
    const inTree = (r: Rec) => typeof r.path === 'string' && r.path.startsWith(m.tree)
    return { entries: records.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type as string) && inTree(r)), stages }
  }
  await m.archive('--json') // stores the contents; the two runs compared both reuse them
  const inProcess = await entriesOf(await m.archive('--json'))
  t.match(readFileSync(parentFile, 'utf8'), /bin\/s3-sysbackup\.js archive /, 'by default the pickers are run by the wrapper itself')
  const processes = await entriesOf(await m.archive('--json', '--stage-processes'))
  t.match(readFileSync(parentFile, 'utf8'), /bin\/sysbackup-pick\.js /, 'with --stage-processes, by a sysbackup-pick process')
  t.equal(inProcess.entries.length, 6, 'the tree: three directories, three files')
  t.same(processes.entries, inProcess.entries, 'the same entries, field for field')
  t.same(inProcess.stages, [['sysbackup-upload', true], ['sysbackup-hash', true], ['sysbackup-pick', true], ['sysbackup-snap', true]], 'every upstream stage, each with an ok trailer')
  t.same(processes.stages, inProcess.stages, 'the same with --stage-processes')
})

t.test('CPU scheduling: SCHED_BATCH for the run and what it starts by default, normal when asked, another policy kept, a warning when refused', async (t) => {
  const m = await machine(t, LOCAL_STORE)
  // The picker notes the policy (stat(5) field 41) of every thread of the
  // process that ran it, and its own: 3 is SCHED_BATCH, 0 SCHED_OTHER.
  const policiesFile = join(testDir(t), 'policies')
  writeFileSync(join(m.store.configDir, 'pickers.d', '05-note-policies'),
    `#!/bin/sh\n{ for task in /proc/$PPID/task/*; do cut -d' ' -f41 $task/stat; done | sort -u | tr '\\n' ' '; echo "picker $(cut -d' ' -f41 /proc/$$/stat)"; } > '${policiesFile}'\n`)
  chmodSync(join(m.store.configDir, 'pickers.d', '05-note-policies'), 0o755)
  // What "normal" leaves: the policy the run was started with, this test's own (0 unless run under chrt).
  const own = schedulingPolicyOf(process.pid)
  const normal = `${own} picker ${own}`
  const policiesOf = async (run: Pick<BinResult, 'status' | 'stderr'>) => {
    t.equal(run.status, 0, run.stderr)
    return readFileSync(policiesFile, 'utf8').trim()
  }
  t.equal(await policiesOf(await m.archive()), '3 picker 3', 'by default every thread of the run, and the picker it started, are SCHED_BATCH')
  t.equal(await policiesOf(await m.archive('--cpu-scheduling', 'normal')), normal, '--cpu-scheduling normal leaves them SCHED_OTHER')
  t.equal(await policiesOf(await m.archive('--cpu-scheduling', 'Normal')), normal, 'in any case, as in the configuration')
  writeFileSync(join(m.store.configDir, 'conf'), readFileSync(join(m.store.configDir, 'conf'), 'utf8') + '[archive]\ncpu_scheduling = normal\n')
  t.equal(await policiesOf(await m.archive()), normal, '[archive] cpu_scheduling = normal does the same')
  t.equal(await policiesOf(await m.archive('--cpu-scheduling', 'batch')), '3 picker 3', 'and the option overrides the configuration')

  // A system that refuses the policy (a chrt that fails, as under a seccomp filter): the run goes on, normal, with a warning.
  const bin = join(testDir(t), 'bin')
  mkdirSync(bin)
  writeFileSync(join(bin, 'chrt'), '#!/bin/sh\necho "chrt: failed to set pid 0\'s policy: Operation not permitted" >&2\nexit 1\n', { mode: 0o755 })
  const refused = await runBin('s3-sysbackup', ['archive', '--config', m.store.configDir, '--state-dir', m.stateDir, '--host', 'box1', '--cpu-scheduling', 'batch'],
    { env: { ...LOCAL_STORE.env, PATH: `${bin}:${process.env.PATH}` } })
  t.equal(await policiesOf(refused), normal, 'the run completes under the normal policy')
  t.match(refused.stderr, /^s3-sysbackup archive: warning: CPU scheduling stays normal: chrt: failed to set pid 0's policy: Operation not permitted$/m)

  // Started under another policy than the normal one (SCHED_IDLE, 5): the run keeps it.
  const underIdle = spawn('chrt', ['--idle', '0', process.execPath, 'bin/s3-sysbackup.js', 'archive', '--config', m.store.configDir, '--state-dir', m.stateDir, '--host', 'box1', '--cpu-scheduling', 'batch'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...LOCAL_STORE.env, PATH: process.env.PATH } })
  let idleStderr = ''
  underIdle.stderr.on('data', (c: Buffer) => { idleStderr += c.toString() })
  const idleStatus = await new Promise<number | null>((resolve) => underIdle.on('exit', (code) => resolve(code)))
  t.equal(await policiesOf({ status: idleStatus, stderr: idleStderr }), '5 picker 5', 'a run started under SCHED_IDLE stays there')
  t.notMatch(idleStderr, /warning/, 'with no warning')

  const usage = await runBin('s3-sysbackup', ['archive', '--cpu-scheduling', 'idle'])
  t.equal(usage.status, 2)
  t.match(usage.stderr, /^s3-sysbackup archive: --cpu-scheduling: "idle" is not one of batch, normal$/m)
  writeFileSync(join(m.store.configDir, 'conf'), '[archive]\ncpu_scheduling = fifo\n')
  const config = await m.archive()
  t.equal(config.status, 2)
  t.match(config.stderr, /conf:2: \[archive\] cpu_scheduling: "fifo" is not one of batch, normal$/m)
})

t.test('the snap stage is a process only when there are snapshotters to run', async (t) => {
  const m = await machine(t, LOCAL_STORE)
  // Every Node process of a run notes its script and its flags for node (NODE_OPTIONS reaches the stage processes too).
  const log = join(testDir(t), 'node-scripts')
  const preload = join(testDir(t), 'note-script.mjs')
  writeFileSync(preload, `import { appendFileSync } from 'node:fs'\nappendFileSync(${JSON.stringify(log)}, process.argv[1] + ' ' + process.execArgv.join(' ') + '\\n')\n`)
  const scriptsOfARun = async () => {
    writeFileSync(log, '')
    const child = spawn(process.execPath, ['bin/s3-sysbackup.js', 'archive', '--config', m.store.configDir, '--state-dir', m.stateDir, '--host', 'box1', '--json'],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: `--import=${preload}` } })
    let stdout = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    t.equal(await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))), 0, 'the run succeeds')
    const processes = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => line.replace(/^\S*\//, ''))
    return { summary: JSON.parse(stdout) as Record<string, unknown>, scripts: processes.map((p) => p.split(' ')[0]!), processes }
  }
  const withSnapshotter = await scriptsOfARun()
  t.same(withSnapshotter.scripts.sort(), ['s3-sysbackup.js', 'sysbackup-snap.js'], 'a snap process runs the snapshotter')
  t.ok(withSnapshotter.processes.includes('sysbackup-snap.js --max-semi-space-size=8'), 'started with the flags its bin file gives node')
  t.match(withSnapshotter.summary, { outcome: 'complete', snapshots: 1 })
  rmSync(join(m.store.configDir, 'snapshots.d', '10-dump'))
  const without = await scriptsOfARun()
  t.same(without.scripts, ['s3-sysbackup.js'], 'with none, no process is started for the snap stage')
  t.match(without.summary, { outcome: 'complete', snapshots: 0, files: 3 }, 'and the run is complete')
})

t.test('SIGTERM to the wrapper stops the stages inside it and the snapshot process: exit 130, nothing complete', async (t) => {
  const sleeper = join(testDir(t), 'sleeper.pid')
  const m = await machine(t, LOCAL_STORE, `sleep 30 & echo $! > '${sleeper}'\nwait\necho late >&$1\n`)
  const child = spawn(process.execPath, ['bin/s3-sysbackup.js', 'archive', '--config', m.store.configDir, '--state-dir', m.stateDir, '--host', 'box1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  let snap: number[] = []
  for (let i = 0; i < 100 && snap.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100))
    snap = await pgrep('bin/sysbackup-snap.js', child.pid!)
  }
  t.equal(snap.length, 1, 'the snapshot stage runs as a child of the wrapper')
  child.kill('SIGTERM')
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.equal(status, 130, 'exit status 130: interrupted')
  const summary = JSON.parse(stdout) as { outcome: string, reasons: string[] }
  t.not(summary.outcome, 'complete', 'the run is not complete')
  t.equal(summary.reasons[0], 'interrupted by SIGTERM', 'and says why')
  for (const key of await manifestKeys(await m.store.open())) t.match(key, /\.incomplete\.ndjson\.gz$/, 'only an incomplete manifest')
  let snapGone = false
  for (let i = 0; i < 50 && !snapGone; i++) {
    try { process.kill(snap[0]!, 0); await new Promise((r) => setTimeout(r, 100)) } catch { snapGone = true }
  }
  t.ok(snapGone, 'the snapshot stage has ended')
  try { process.kill(Number(readFileSync(sleeper, 'utf8')), 'SIGKILL') } catch { /* gone */ }
})

t.test('a stage killed mid-run: no manifest claims completeness', async (t) => {
  const sleeper = join(testDir(t), 'sleeper.pid')
  const m = await machine(t, LOCAL_STORE, `sleep 30 & echo $! > '${sleeper}'\nwait\necho late >&$1\n`)
  const child = spawn(process.execPath, ['bin/s3-sysbackup.js', 'archive', '--config', m.store.configDir, '--state-dir', m.stateDir, '--host', 'box1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  // The snapshotter sleeps; kill the snap stage while it waits.
  let killed = false
  for (let i = 0; i < 100 && !killed; i++) {
    await new Promise((r) => setTimeout(r, 100))
    // Only this run's stage (a child of this wrapper): tests of other files may run stages at the same time.
    const pids = await pgrep('bin/sysbackup-snap.js', child.pid!)
    for (const pid of pids) {
      process.kill(pid, 'SIGKILL')
      killed = true
    }
  }
  t.ok(killed, 'found and killed sysbackup-snap')
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.ok(status === 1 || status === 3, `exit status ${status}`)
  t.match(stdout, /sysbackup-snap was killed by SIGKILL/)
  for (const key of await manifestKeys(await m.store.open())) t.match(key, /\.incomplete\.ndjson\.gz$/, 'only an incomplete manifest')
  try { process.kill(Number(readFileSync(sleeper, 'utf8')), 'SIGKILL') } catch { /* gone */ }

  // The rerun converges: with the snapshotter fixed, the next run is complete.
  writeFileSync(join(m.store.configDir, 'snapshots.d', '10-dump'), '#!/bin/bash\necho "dump"\necho dump-bytes >&$1\n')
  const rerun = await m.archive('--json')
  t.equal(rerun.status, 0, rerun.stderr)
  t.match(JSON.parse(rerun.stdout), { outcome: 'complete', exitStatus: 0, files: 3, snapshots: 1, errors: 0 }, 'the rerun is complete')
  const keys = await manifestKeys(await m.store.open())
  t.equal(keys.filter((key) => !key.includes('.incomplete.')).length, 1, 'one complete manifest beside the incomplete one')
})

async function pgrep(pattern: string, parent: number): Promise<number[]> {
  const out = await new Promise<string>((resolve) => {
    const p = spawn('pgrep', ['-P', String(parent), '-f', pattern], { stdio: ['ignore', 'pipe', 'ignore'] })
    let text = ''
    p.stdout.on('data', (c: Buffer) => { text += c.toString() })
    p.on('exit', () => resolve(text))
  })
  return out.split('\n').filter(Boolean).map(Number).filter((pid) => pid !== process.pid)
}
