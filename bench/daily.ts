/**
 * What a daily system backup costs, this tool beside restic (`npm run bench`).
 *
 * Builds a system-like tree with the shared mktree.py (20,000 files by
 * default), then runs both tools on it, interleaved per repetition (the
 * order alternating), in five scenarios:
 *
 *   first     first run into an empty store (restic: a new repository)
 *   unchanged unchanged run, warm state directory (restic: warm cache)
 *   mutated   run after `mutate.py --percent 1` (each repetition mutates again)
 *   cold      unchanged run with the state directory deleted (restic: its cache)
 *   restore   restore of the newest backup into an empty directory
 *
 * into a local store (restic: a local repository) and into S3 on a
 * moto_server started here (restic: an `s3:` repository on the same
 * server). Each run is a child process measured from outside: wall time,
 * user+system CPU of the process tree, the peak of the SUM of the tree's
 * RSS (sampled every 20 ms) and getrusage's largest single process. On S3,
 * requests by kind are counted from moto's log and, for this tool, also
 * from its own counters (the archive summary); a mismatch is printed
 * loudly. moto's own CPU during a run is reported as its share. Every run
 * starts after a sync(1), with nothing of the runs before it left to write
 * back.
 *
 * Prints medians and the median of per-pair ratios (ours / restic), and
 * writes every measurement as JSON.
 *
 *   npm run bench -- [--files N] [--reps N] [--first-reps N] [--only first,unchanged,...]
 *                    [--local | --s3] [--json FILE] [--work DIR] [--keep]
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import minimist from 'minimist'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { ourProgram, ROOT, sharedScript } from './lib/root.js'
import { measure, type RunMeasure } from './lib/measure.js'
import { startLoggedMoto, type LoggedMoto } from './lib/moto-log.js'
import { formatRequests, median, table, total } from './lib/stats.js'

const SCENARIOS = ['first', 'unchanged', 'mutated', 'cold', 'restore'] as const
type Scenario = typeof SCENARIOS[number]
type Tool = 'ours' | 'restic'
type Kind = 'local' | 's3'

const argv = minimist(process.argv.slice(2), { string: ['only', 'json', 'work', 'mktree', 'mutate'], boolean: ['keep', 'local', 's3'] })
const FILES = Number(argv.files ?? 20_000)
const REPS = Number(argv.reps ?? 5)
const FIRST_REPS = Number(argv['first-reps'] ?? Math.min(REPS, 2))
const RESTORE_REPS = Number(argv['restore-reps'] ?? Math.min(REPS, 3))
const ONLY = new Set<Scenario>(argv.only ? String(argv.only).split(',') as Scenario[] : SCENARIOS)
const KINDS: Kind[] = argv.local && !argv.s3 ? ['local'] : argv.s3 && !argv.local ? ['s3'] : ['local', 's3']
const JSON_FILE = resolve(String(argv.json ?? join(ROOT, 'bench/out/daily.json')))
const MKTREE = String(argv.mktree ?? sharedScript('mktree.py'))
const MUTATE = String(argv.mutate ?? sharedScript('mutate.py'))
const OURS = ourProgram('s3-sysbackup')
const HOST = 'bench'

for (const s of ONLY) if (!SCENARIOS.includes(s)) throw new Error(`--only: unknown scenario "${s}" (known: ${SCENARIOS.join(', ')})`)

/** One measured run. */
interface Sample extends Omit<RunMeasure, 'stdout' | 'stderr'> {
  kind: Kind
  scenario: Scenario
  tool: Tool
  rep: number
  /** Requests counted from moto's log during the run (S3 only). */
  logRequests?: Record<string, number>
  /** Requests by kind from this tool's own counters (its summary). */
  ownRequests?: Record<string, number>
  /** moto_server's CPU seconds during the run (S3 only). */
  motoCpuSeconds?: number
  /** Distinct contents this tool stored in the run (its summary), for the request targets. */
  contentsStored?: number
}

const samples: Sample[] = []
const mismatches: string[] = []

ensureRestic()
const work = argv.work ? resolve(String(argv.work)) : mkdtempSync('/tmp/bench-daily-')
mkdirSync(work, { recursive: true })
const tree = join(work, 'tree')
rmSync(tree, { recursive: true, force: true })
console.log(`building a tree of ${FILES} files in ${tree} …`)
execFileSync('python3', [MKTREE, tree, '--files', String(FILES)], { stdio: ['ignore', 'ignore', 'inherit'] })
const treeSize = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]
console.log(`tree: ${(Number(treeSize) / 1e6).toFixed(0)} MB`)
const statWalk = measureSync(['find', tree, '-ls'])
console.log(`stat() walk of the tree (find -ls): ${statWalk.toFixed(2)} s`)

let moto: LoggedMoto | undefined
let mutations = 0
try {
  for (const kind of KINDS) {
    if (kind === 's3') moto = await startLoggedMoto()
    await runKind(kind)
  }
} finally {
  await moto?.stop()
  if (!argv.keep) rmSync(work, { recursive: true, force: true })
  else console.log(`kept ${work}`)
}
report()

/** The runs of one store kind, scenario by scenario, on one evolving store. */
async function runKind(kind: Kind): Promise<void> {
  const dir = join(work, kind)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir)
  const state = join(dir, 'state')
  const resticCache = join(dir, 'restic-cache')
  const confDir = join(dir, 'conf')
  mkdirSync(join(confDir, 'pickers.d'), { recursive: true })
  writeFileSync(join(confDir, 'pickers.d/10-tree'), `#!/bin/sh\nexec find '${tree}' -print0\n`, { mode: 0o755 })
  let generation = 0
  let resticRepo = ''
  const s3Env: NodeJS.ProcessEnv = moto
    ? { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
    : {}
  const env = { ...process.env, ...s3Env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: resticCache }

  /** A new, empty store for each tool (a first run). */
  const freshStores = async () => {
    generation++
    rmSync(state, { recursive: true, force: true })
    rmSync(resticCache, { recursive: true, force: true })
    if (kind === 'local') {
      writeFileSync(join(confDir, 'conf'), `[s3]\nbucket = file:${join(dir, `store-${generation}`)}\n[state]\ndir = ${state}\n[content]\ndays_retained = 1\n`)
      resticRepo = join(dir, `restic-${generation}`)
    } else {
      const bucket = `ours-${generation}`
      const client = new S3Client({ endpoint: moto!.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } })
      await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }))
      client.destroy()
      writeFileSync(join(confDir, 'conf'), `[s3]\nbucket = ${bucket}\nendpoint = ${moto!.endpoint}\n[state]\ndir = ${state}\n[content]\ndays_retained = 1\n`)
      resticRepo = `s3:${moto!.endpoint}/restic-${generation}`
    }
    const init = spawnSync('restic', ['-r', resticRepo, 'init'], { env, encoding: 'utf8' })
    if (init.status !== 0) throw new Error(`restic init failed: ${init.stderr}`)
  }

  const run = async (scenario: Scenario, tool: Tool, rep: number): Promise<void> => {
    let argvOf: string[]
    if (scenario === 'restore') {
      // A new directory for every restore, the earlier ones kept until the
      // scenario ends: on an ext4 without a journal (this machine's root)
      // inode allocation skips inodes freed in the last minute (five if
      // their table block is dirty), reading inode tables to find them, and
      // a restore started right after deleting the last one's 20,000 files
      // spent ~10 s more in the kernel's ext4_create (perf: recently_deleted)
      // for either tool: 25 s against 15 s here, restic 13 against 9.
      const target = join(dir, `target-${tool}-${rep}`)
      rmSync(target, { recursive: true, force: true }) // left by a kept --work DIR only
      mkdirSync(target)
      argvOf = tool === 'ours'
        ? [...OURS, 'restore', '--config', confDir, '--host', HOST, '--target', target, '--yes', '--no-snapshots']
        : ['restic', '-r', resticRepo, 'restore', 'latest', '--target', target]
    } else {
      argvOf = tool === 'ours'
        ? [...OURS, 'archive', '--config', confDir, '--host', HOST, '--json', '--no-progress']
        : ['restic', '-r', resticRepo, 'backup', '--quiet', '--host', HOST, tree]
    }
    // Nothing left to write back when a run starts: the dirty pages of the
    // last run, of mutate.py or of removing the last restore would be flushed
    // during this one by whichever tool syncs (this tool syncs its store's
    // file system once per stage).
    execFileSync('sync')
    await moto?.settle()
    const mark = moto?.mark()
    const motoCpu = moto?.cpuSeconds()
    const m = await measure(argvOf, { env })
    if (m.status !== 0) throw new Error(`${kind} ${scenario} ${tool}: exit ${m.status}\n${m.stderr.slice(-3000)}`)
    const sample: Sample = {
      kind, scenario, tool, rep,
      wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, treeRssMb: m.treeRssMb, maxProcessRssMb: m.maxProcessRssMb, status: m.status,
    }
    if (moto) {
      await moto.settle()
      sample.logRequests = moto.requestsSince(mark!)
      sample.motoCpuSeconds = moto.cpuSeconds() - motoCpu!
    }
    if (tool === 'ours' && scenario !== 'restore') {
      const summary = JSON.parse(m.stdout.trim().split('\n').at(-1)!) as { outcome: string, requests: Record<string, number>, contentsStored: number }
      if (summary.outcome !== 'complete') throw new Error(`${kind} ${scenario}: outcome ${summary.outcome}`)
      sample.ownRequests = summary.requests
      sample.contentsStored = summary.contentsStored
      if (kind === 's3') {
        const own = formatRequests(summary.requests)
        const logged = formatRequests(sample.logRequests)
        if (own !== logged) {
          const text = `REQUEST COUNT MISMATCH ${kind} ${scenario} rep ${rep}: own counters ${own}; moto log ${logged}`
          mismatches.push(text)
          console.log(`!!! ${text}`)
        }
      }
    }
    samples.push(sample)
    const stored = sample.contentsStored !== undefined ? `, ${sample.contentsStored} contents stored` : ''
    const requests = sample.logRequests ? `  requests ${total(sample.logRequests)} (${formatRequests(sample.logRequests)})${stored}` : stored
    console.log(`${kind.padEnd(5)} ${scenario.padEnd(9)} ${tool.padEnd(6)} #${rep}: ${m.wallSeconds.toFixed(2)} s wall, ${m.cpuSeconds.toFixed(2)} s cpu, ${m.treeRssMb.toFixed(0)} MB tree RSS (${m.maxProcessRssMb.toFixed(0)} MB max process)${requests}`)
  }

  /** Both tools once, the order alternating per repetition. */
  const pair = async (scenario: Scenario, rep: number, before?: (tool: Tool) => void) => {
    const order: Tool[] = rep % 2 ? ['restic', 'ours'] : ['ours', 'restic']
    for (const tool of order) {
      before?.(tool)
      await run(scenario, tool, rep)
    }
  }

  const firstReps = ONLY.has('first') ? FIRST_REPS : 0
  for (let rep = 0; rep < Math.max(firstReps, 1); rep++) {
    await freshStores()
    if (ONLY.has('first')) await pair('first', rep)
    else {
      // Other scenarios need a backed-up tree: one unmeasured first run each.
      await run('first', 'ours', -1)
      await run('first', 'restic', -1)
      samples.splice(-2)
    }
  }
  if (ONLY.has('unchanged')) {
    for (let rep = 0; rep < REPS; rep++) await pair('unchanged', rep)
  }
  if (ONLY.has('mutated')) {
    for (let rep = 0; rep < REPS; rep++) {
      execFileSync('python3', [MUTATE, tree, '--percent', '1', '--seed', String(1000 + ++mutations)], { stdio: ['ignore', 'ignore', 'inherit'] })
      await pair('mutated', rep)
    }
  }
  if (ONLY.has('cold')) {
    for (let rep = 0; rep < REPS; rep++) {
      await pair('cold', rep, (tool) => rmSync(tool === 'ours' ? state : resticCache, { recursive: true, force: true }))
    }
  }
  if (ONLY.has('restore')) {
    for (let rep = 0; rep < RESTORE_REPS; rep++) await pair('restore', rep)
    for (const tool of ['ours', 'restic'] as const) {
      for (let rep = 0; rep < RESTORE_REPS; rep++) rmSync(join(dir, `target-${tool}-${rep}`), { recursive: true, force: true })
    }
  }
}

function report(): void {
  const rows: string[][] = []
  const summaries: Record<string, unknown>[] = []
  for (const kind of KINDS) {
    for (const scenario of SCENARIOS) {
      const of = (tool: Tool) => samples.filter((s) => s.kind === kind && s.scenario === scenario && s.tool === tool)
      const ours = of('ours')
      const restic = of('restic')
      if (!ours.length || !restic.length) continue
      const ratios = ours.map((o) => o.wallSeconds / (restic.find((r) => r.rep === o.rep)?.wallSeconds ?? NaN))
      const med = (list: Sample[], f: (s: Sample) => number) => median(list.map(f))
      const reqOf = (list: Sample[]) => (kind === 's3' ? medianRequests(list.map((s) => s.logRequests ?? {})) : undefined)
      const summary = {
        kind, scenario, reps: ours.length,
        oursContentsStored: med(ours, (s) => s.contentsStored ?? NaN),
        ours: { wall: med(ours, (s) => s.wallSeconds), cpu: med(ours, (s) => s.cpuSeconds), treeRssMb: med(ours, (s) => s.treeRssMb), maxProcessRssMb: med(ours, (s) => s.maxProcessRssMb), requests: reqOf(ours), motoCpu: kind === 's3' ? med(ours, (s) => s.motoCpuSeconds ?? NaN) : undefined },
        restic: { wall: med(restic, (s) => s.wallSeconds), cpu: med(restic, (s) => s.cpuSeconds), treeRssMb: med(restic, (s) => s.treeRssMb), maxProcessRssMb: med(restic, (s) => s.maxProcessRssMb), requests: reqOf(restic), motoCpu: kind === 's3' ? med(restic, (s) => s.motoCpuSeconds ?? NaN) : undefined },
        wallRatio: median(ratios),
      }
      summaries.push(summary)
      const f = (n: number | undefined, d = 2) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(d))
      rows.push([
        `${kind} ${scenario}`, String(ours.length),
        f(summary.ours.wall), f(summary.restic.wall), f(summary.wallRatio),
        f(summary.ours.cpu, 1), f(summary.restic.cpu, 1),
        f(summary.ours.treeRssMb, 0), f(summary.restic.treeRssMb, 0),
        kind === 's3' ? `${total(summary.ours.requests)} / ${total(summary.restic.requests)}` : '-',
        kind === 's3' ? `${f(summary.ours.motoCpu, 1)} / ${f(summary.restic.motoCpu, 1)}` : '-',
      ])
    }
  }
  console.log()
  console.log(`${FILES} files (${(Number(treeSize) / 1e6).toFixed(0)} MB), ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; medians; ratio = median of per-pair ours/restic wall`)
  console.log(table(
    ['scenario', 'n', 'ours s', 'restic s', 'ratio', 'ours cpu', 'restic cpu', 'ours MB', 'restic MB', 'S3 req ours/restic', 'moto cpu s'],
    rows,
  ))
  for (const s of summaries) {
    if (s.kind !== 's3') continue
    const o = s.ours as { requests: Record<string, number> }, r = s.restic as { requests: Record<string, number> }
    const stored = Number.isFinite(s.oursContentsStored) ? ` (${String(s.oursContentsStored)} contents stored)` : ''
    console.log(`  s3 ${String(s.scenario).padEnd(9)} requests ours: ${formatRequests(o.requests)}${stored}; restic: ${formatRequests(r.requests)}`)
  }
  console.log(mismatches.length ? `!!! ${mismatches.length} request count mismatch(es) between the tool's counters and moto's log (see above)` : (KINDS.includes('s3') ? 'request counts: the tool\'s own counters agree with moto\'s log on every run' : ''))
  mkdirSync(dirname(JSON_FILE), { recursive: true })
  writeFileSync(JSON_FILE, JSON.stringify({
    files: FILES, treeBytes: Number(treeSize), statWalkSeconds: statWalk,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30, node: process.version, restic: resticVersion() },
    summaries, samples, mismatches,
  }, null, 2) + '\n')
  console.log(`wrote ${JSON_FILE}`)
}

/** Per API name, the median count over runs. */
function medianRequests(list: Record<string, number>[]): Record<string, number> {
  const names = new Set(list.flatMap((r) => Object.keys(r)))
  return Object.fromEntries([...names].map((n) => [n, median(list.map((r) => r[n] ?? 0))]))
}

function measureSync(command: string[]): number {
  const started = process.hrtime.bigint()
  spawnSync(command[0]!, command.slice(1), { stdio: 'ignore' })
  return Number(process.hrtime.bigint() - started) / 1e9
}

/** restic is a benchmark peer, not a dependency: installed from Debian's packages when absent. */
function ensureRestic(): void {
  if (spawnSync('restic', ['version']).status === 0) return
  console.log('restic not found: installing it with apt-get …')
  execFileSync('apt-get', ['update'], { stdio: 'inherit' })
  execFileSync('apt-get', ['install', '-y', 'restic'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}

function resticVersion(): string {
  return spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.trim()
}
