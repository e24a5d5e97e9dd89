/**
 * Benchmark of sysbackup-upload's S3 requests (`npm run bench:upload`).
 *
 * Builds a tree with the shared mktree.py and runs the real pipeline
 * `sysbackup-pick --stdin --null | sysbackup-hash | sysbackup-upload` over
 * it (the built bins, as processes) into a local directory store and into a
 * bucket on a moto_server the script starts, for five runs:
 *
 *   first                      empty store, no state
 *   unchanged                  warm state
 *   1% changed                 after mutate.py --percent 1 (1% of the files
 *                              appended to, 1% new files)
 *   unchanged, state deleted   the state directory removed: knowledge from
 *                              this host's newest manifest
 *   … and no manifest          the same under a host name with no manifest:
 *                              a sweep and HEADs
 *
 * After each run the script stores the run's manifest as sysbackup-manifest
 * would (upload's output, gzip NDJSON, at manifests/HOST/TIMESTAMP.ndjson.gz;
 * those requests are the script's, not counted below). It prints the
 * requests by kind from upload's trailer (`req.*`); for moto also as moto's
 * own request log saw them during the run, and whether the two agree; and
 * wall time of the pipeline and upload's peak RSS and CPU time.
 *
 *   npm run bench:upload -- [--files N] [--big-mb M] [--stores local,s3] [--keep]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import minimist from 'minimist'
import { keyTimestamp } from '../src/stages/run-identity.js'
import { LocalStore } from '../src/store/local-store.js'
import { estimateRequestCost, formatDollars } from '../src/store/pricing.js'
import { S3Store } from '../src/store/s3-store.js'
import type { Store } from '../src/store/store.js'
import { ourProgram } from './lib/root.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const argv = minimist(process.argv.slice(2), { string: ['stores', 'mktree', 'mutate'], boolean: ['keep'] })
const FILES = Number(argv.files ?? 5000)
/** mktree's four big files, in MiB each (its default of 64 makes moto slow; 16 still goes multipart). */
const BIG_MB = Number(argv['big-mb'] ?? 16)
const STORES = String(argv.stores ?? 'local,s3').split(',')
const MKTREE = String(argv.mktree ?? '/work/shared/bench/mktree.py')
const MUTATE = String(argv.mutate ?? '/work/shared/bench/mutate.py')
const HOST = 'bench-host'
const DAY = 86_400_000

interface Target {
  name: string
  configDir: string
  storeArgs: string[]
  env: NodeJS.ProcessEnv
  store: Store
  /** moto's log file (s3 only). */
  motoLog?: string
}

interface RunResult {
  label: string
  wallS: number
  uploadCpuS: number
  uploadRssMiB: number
  counts: Record<string, number>
  req: Record<string, number>
  motoReq: Record<string, number> | undefined
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`
const bin = (name: string) => ourProgram(name).map(quote).join(' ')

/** Runs pick | hash | upload; upload's output goes to `out`. */
function runPipeline(label: string, t: Target, work: string, paths: string, state: string, host: string, out: string): RunResult {
  const time = join(work, 'upload.time')
  const status = join(work, 'status')
  const script = [
    `${bin('sysbackup-pick')} --stdin --null < ${quote(paths)}`,
    `${bin('sysbackup-hash')} --state-dir ${quote(state)}`,
    `/usr/bin/time -f 'UPLOAD %e %M %U %S' -o ${quote(time)} ${bin('sysbackup-upload')} ${t.storeArgs.map(quote).join(' ')} --state-dir ${quote(state)} --host ${quote(host)} > ${quote(out)}`,
  ].join(' | ') + `; echo "\${PIPESTATUS[@]}" > ${quote(status)}`
  const logBefore = t.motoLog ? motoRequests(t.motoLog).length : 0
  const started = performance.now()
  const result = spawnSync('bash', ['-c', script], { env: { ...process.env, ...t.env, NODE_OPTIONS: '' }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  const wallS = (performance.now() - started) / 1000
  const statuses = readFileSync(status, 'utf8').trim()
  if (statuses !== '0 0 0') throw new Error(`${label}: exit statuses ${statuses}\n${result.stderr.slice(-4000)}`)
  const [, , rss, user, system] = readFileSync(time, 'utf8').trim().split('\n').at(-1)!.split(' ')
  const lines = readFileSync(out, 'utf8').trimEnd().split('\n')
  const trailer = JSON.parse(lines.at(-1)!) as { producer: string, counts: Record<string, number> }
  if (trailer.producer !== 'sysbackup-upload') throw new Error(`${label}: no upload trailer`)
  const req = Object.fromEntries(Object.entries(trailer.counts).filter(([k]) => k.startsWith('req.')).map(([k, v]) => [k.slice(4), v]))
  const motoReq = t.motoLog ? classify(motoRequests(t.motoLog).slice(logBefore)) : undefined
  return { label, wallS, uploadCpuS: Number(user) + Number(system), uploadRssMiB: Number(rss) / 1024, counts: trailer.counts, req, motoReq }
}

/** S3 API names of moto's request log lines (`"PUT /bucket/key?retention HTTP/1.1" 200`). */
function classify(lines: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of lines) {
    const m = /"(GET|PUT|POST|HEAD|DELETE) ([^ ?]*)(\?[^ ]*)? HTTP/.exec(line)
    if (!m) continue
    const [, method, path, query = ''] = m
    const q = new URLSearchParams(query.slice(1))
    const onKey = path!.split('/').filter(Boolean).length > 1
    const api = method === 'HEAD' ? (onKey ? 'HeadObject' : 'HeadBucket')
      : method === 'GET' ? (q.has('versions') ? 'ListObjectVersions' : q.has('list-type') ? 'ListObjectsV2' : q.has('object-lock') ? 'GetObjectLockConfiguration' : q.has('retention') ? 'GetObjectRetention' : onKey ? 'GetObject' : 'ListObjects')
      : method === 'PUT' ? (q.has('retention') ? 'PutObjectRetention' : q.has('uploadId') ? 'UploadPart' : 'PutObject')
      : method === 'POST' ? (q.has('uploads') ? 'CreateMultipartUpload' : 'CompleteMultipartUpload')
      : q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject'
    out[api] = (out[api] ?? 0) + 1
  }
  return out
}

/** Stores upload's output as this run's manifest, as sysbackup-manifest would. */
async function storeManifest(t: Target, out: string, runTime: Date): Promise<void> {
  const body = gzipSync(readFileSync(out))
  await t.store.putBuffer(`manifests/${HOST}/${keyTimestamp(runTime)}.ndjson.gz`, body, { lockMode: 'GOVERNANCE', retainUntil: new Date(runTime.getTime() + 14 * DAY) })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/**
 * Starts moto_server with its log (one line per request) going to `logFile`:
 * a file, not a pipe, since the pipelines run synchronously and a full pipe
 * would stall moto.
 */
async function startMoto(logFile: string): Promise<{ endpoint: string, child: ChildProcess }> {
  const port = await freePort()
  const log = openSync(logFile, 'w')
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', log] })
  closeSync(log)
  const endpoint = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${endpoint}/moto-api/`)).ok) return { endpoint, child }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('moto_server did not start')
}

/** moto's request log lines so far. */
function motoRequests(logFile: string): string[] {
  return readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('HTTP/1.1"'))
}

function cell(n: number | undefined): string {
  return n === undefined || n === 0 ? '' : String(n)
}

const KINDS = ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', 'PutObjectRetention', 'HeadObject', 'HeadBucket', 'ListObjectVersions', 'ListObjectsV2', 'GetObject', 'GetObjectLockConfiguration']
const SHORT: Record<string, string> = {
  PutObject: 'Put', CreateMultipartUpload: 'MPU', UploadPart: 'Part', CompleteMultipartUpload: 'Done', AbortMultipartUpload: 'Abort',
  PutObjectRetention: 'Retn', HeadObject: 'Head', HeadBucket: 'HBkt', ListObjectVersions: 'LVer', ListObjectsV2: 'LObj', GetObject: 'Get', GetObjectLockConfiguration: 'Lock',
}

function report(store: string, results: RunResult[]): void {
  console.log(`\n${store}: requests by kind from upload's trailer${store === 's3' ? ' (moto log: "agrees" when its own count of each kind is the same)' : ''}`)
  const header = ['run'.padEnd(28), ...KINDS.map((k) => SHORT[k]!.padStart(5)), 'total'.padStart(6), 'cost'.padStart(10), 'stored'.padStart(7), 'extend'.padStart(7), 'swept'.padStart(6), 'heads'.padStart(6), 'wall s'.padStart(7), 'cpu s'.padStart(6), 'RSS MiB'.padStart(8)]
  if (store === 's3') header.push(' moto log')
  console.log(header.join(' '))
  for (const r of results) {
    const total = Object.values(r.req).reduce((a, b) => a + b, 0)
    const row = [r.label.padEnd(28), ...KINDS.map((k) => cell(r.req[k]).padStart(5)), String(total).padStart(6), formatDollars(estimateRequestCost(r.req).dollars).padStart(10),
      String(r.counts.stored).padStart(7), String(r.counts.extended).padStart(7), String(r.counts.swept).padStart(6), String(r.counts.heads).padStart(6),
      r.wallS.toFixed(1).padStart(7), r.uploadCpuS.toFixed(1).padStart(6), r.uploadRssMiB.toFixed(0).padStart(8)]
    if (r.motoReq) {
      const same = JSON.stringify(Object.entries(r.motoReq).sort()) === JSON.stringify(Object.entries(r.req).sort())
      row.push(same ? ' agrees' : ` differs: ${JSON.stringify(r.motoReq)}`)
    }
    console.log(row.join(' '))
  }
  const other = new Set(results.flatMap((r) => Object.keys(r.req)).filter((k) => !KINDS.includes(k)))
  if (other.size > 0) console.log(`  (other kinds: ${[...other].join(', ')})`)
}

async function benchStore(name: string, work: string, tree: string, paths: string): Promise<RunResult[]> {
  const configDir = join(work, `config-${name}`)
  mkdirSync(configDir)
  let target: Target
  let moto: ChildProcess | undefined
  if (name === 'local') {
    writeFileSync(join(configDir, 'conf'), '')
    const dir = join(work, 'store')
    target = { name, configDir, storeArgs: ['--store', dir], env: { S3_SYSBACKUP_CONFIG: configDir }, store: LocalStore.open(dir, { create: true }) }
  } else {
    const log = join(work, 'moto.log')
    const started = await startMoto(log)
    moto = started.child
    const client = new S3Client({ endpoint: started.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } })
    await client.send(new CreateBucketCommand({ Bucket: 'bench', ObjectLockEnabledForBucket: true }))
    writeFileSync(join(configDir, 'conf'), `[s3]\nbucket = bench\nendpoint = ${started.endpoint}\nforce_path_style = true\n`)
    const env = { S3_SYSBACKUP_CONFIG: configDir, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench' }
    target = { name, configDir, storeArgs: [], env, store: new S3Store({ bucket: 'bench', client, endpoint: started.endpoint }), motoLog: log }
  }
  try {
    const state = join(work, `state-${name}`)
    const out = join(work, `out-${name}.ndjson`)
    const results: RunResult[] = []
    const run = async (label: string, host = HOST) => {
      const r = runPipeline(label, target, work, paths, state, host, out)
      results.push(r)
      await storeManifest(target, out, new Date())
      console.log(`  ${name}: ${label} done in ${r.wallS.toFixed(1)} s`)
    }
    await run('first')
    await run('unchanged')
    execFileSync('python3', [MUTATE, tree, '--percent', '1'], { stdio: ['ignore', 'inherit', 'inherit'] })
    writePaths(tree, paths)
    await run('1% changed')
    rmSync(state, { recursive: true })
    await run('unchanged, state deleted')
    rmSync(state, { recursive: true })
    await run('… and no manifest', 'host-without-manifest')
    return results
  } finally {
    if (moto && moto.exitCode === null) {
      const exited = new Promise((r) => moto!.once('exit', r))
      moto.kill('SIGTERM')
      await exited
    }
  }
}

function writePaths(tree: string, paths: string): void {
  execFileSync('sh', ['-c', `find ${quote(tree)} -print0 > ${quote(paths)}`])
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-upload-'))
  try {
    const results = new Map<string, RunResult[]>()
    for (const name of STORES) {
      // A fresh tree per store: mutate.py changes it in place.
      const tree = join(work, `tree-${name}`)
      const t0 = performance.now()
      execFileSync('python3', [MKTREE, tree, '--files', String(FILES), '--big-mb', String(BIG_MB)], { stdio: ['ignore', 'inherit', 'inherit'] })
      console.log(`tree for ${name}: ${FILES} files (+4 of ${BIG_MB} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      const paths = join(work, `paths-${name}`)
      writePaths(tree, paths)
      // Files changed within 2 s of being read are not cached by hash: let the new tree settle.
      await new Promise((r) => setTimeout(r, 2500))
      results.set(name, await benchStore(name, work, tree, paths))
    }
    for (const [name, r] of results) report(name, r)
  } finally {
    if (argv.keep) console.log(`kept ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
}

await main()
