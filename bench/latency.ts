/**
 * Benchmark of request concurrency against a far S3 (`npm run bench:latency`).
 *
 * A small file costs one PutObject to back up and one GetObject to restore,
 * and such a request's time is mostly the round trip to S3: 10-30 ms within
 * an AWS region, 50-150 ms from elsewhere. What runs at once (`--jobs` of
 * the archive and of the restore) then sets the pace. moto_server here
 * answers within a millisecond or so, so a proxy in front of it
 * (bench/lib/latency-proxy.ts) holds each request for the round trip being
 * modelled.
 *
 * Builds a tree with the shared mktree.py (2,500 files by default, big
 * files of 1 MiB), then for each round trip and each --jobs value, the
 * values alternating rep by rep: a first `s3-sysbackup archive --jobs J`
 * into a new bucket, and `s3-sysbackup restore --jobs J` of it into an
 * empty directory. Prints the median wall time of each, and moto's CPU
 * seconds (moto handles about 100-150 requests a second on one core: past
 * that it is the bound, not the round trip). Writes JSON.
 *
 * Options (after `--`): --files N (2500), --latency-ms 0,150 (added round
 * trips), --jobs 8,32, --reps R (2), --json FILE, --mktree PATH, --keep.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import minimist from 'minimist'
import { execFileSync } from 'node:child_process'
import { startLatencyProxy } from './lib/latency-proxy.js'
import { measure } from './lib/measure.js'
import { startLoggedMoto } from './lib/moto-log.js'
import { ourProgram, ROOT, sharedScript } from './lib/root.js'
import { median, table } from './lib/stats.js'

const argv = minimist(process.argv.slice(2), { string: ['latency-ms', 'jobs', 'json', 'mktree'], boolean: ['keep'] })
const FILES = Number(argv.files ?? 2500)
const LATENCIES = String(argv['latency-ms'] ?? '0,150').split(',').map(Number)
const JOBS = String(argv.jobs ?? '8,32').split(',').map(Number)
const REPS = Number(argv.reps ?? 2)
const JSON_FILE = resolve(String(argv.json ?? join(ROOT, 'bench/out/latency.json')))
const MKTREE = String(argv.mktree ?? sharedScript('mktree.py'))
const OURS = ourProgram('s3-sysbackup')
const HOST = 'bench'
// The SDK's notice that its later versions need Node 22, printed once per process, is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const ENV = { ...process.env, AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' }

interface Sample {
  latencyMs: number
  jobs: number
  rep: number
  archiveSeconds: number
  restoreSeconds: number
  archiveMotoCpu: number
  restoreMotoCpu: number
  restoreRssMb: number
  files: number
}

if (!existsSync(MKTREE)) throw new Error(`mktree.py not found at ${MKTREE} (give --mktree PATH)`)
const work = mkdtempSync('/tmp/bench-latency-')
const tree = join(work, 'tree')
execFileSync('python3', [MKTREE, tree, '--files', String(FILES), '--big-mb', '1'], { stdio: ['ignore', 'ignore', 'inherit'] })
const moto = await startLoggedMoto()
const proxy = await startLatencyProxy(moto.endpoint, 0)
const client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } })
const samples: Sample[] = []
let buckets = 0
try {
  for (const latencyMs of LATENCIES) {
    proxy.delayMs = latencyMs
    for (let rep = 0; rep < REPS; rep++) {
      // Alternate which --jobs value goes first, so neither always runs on a warmer machine.
      const order = rep % 2 === 0 ? JOBS : [...JOBS].reverse()
      for (const jobs of order) samples.push(await pair(latencyMs, jobs, rep))
    }
  }
} finally {
  client.destroy()
  await proxy.close()
  await moto.stop()
  if (!argv.keep) rmSync(work, { recursive: true, force: true })
  else console.log(`kept ${work}`)
}
report()

/** One first archive into a new bucket, then one restore of it, both with --jobs `jobs`. */
async function pair(latencyMs: number, jobs: number, rep: number): Promise<Sample> {
  const bucket = `latency-${++buckets}`
  await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }))
  const conf = join(work, `conf-${buckets}`)
  mkdirSync(join(conf, 'pickers.d'), { recursive: true })
  writeFileSync(join(conf, 'pickers.d/10-tree'), `#!/bin/sh\nexec find '${tree}' -print0\n`, { mode: 0o755 })
  writeFileSync(join(conf, 'conf'), `[s3]\nbucket = ${bucket}\nendpoint = ${proxy.endpoint}\n[state]\ndir = ${join(work, `state-${buckets}`)}\n[content]\ndays_retained = 1\n`)
  const jobsArgs = ['--jobs', String(jobs)]

  let motoCpu = moto.cpuSeconds()
  const archive = await measure([...OURS, 'archive', '--config', conf, '--host', HOST, '--json', '--no-progress', ...jobsArgs], { env: ENV })
  if (archive.status !== 0) throw new Error(`archive failed (${archive.status}): ${archive.stderr.slice(-2000)}`)
  const archiveMotoCpu = moto.cpuSeconds() - motoCpu
  const files = Number((JSON.parse(archive.stdout) as { files: number }).files)

  const target = join(work, `target-${buckets}`)
  motoCpu = moto.cpuSeconds()
  const restore = await measure([...OURS, 'restore', '--config', conf, '--host', HOST, '--target', target, '--yes', '--no-snapshots', ...jobsArgs], { env: ENV })
  if (restore.status !== 0) throw new Error(`restore failed (${restore.status}): ${restore.stderr.slice(-2000)}`)
  const restoreMotoCpu = moto.cpuSeconds() - motoCpu
  rmSync(target, { recursive: true, force: true })

  const sample = {
    latencyMs, jobs, rep, files,
    archiveSeconds: archive.wallSeconds, restoreSeconds: restore.wallSeconds,
    archiveMotoCpu, restoreMotoCpu, restoreRssMb: restore.maxProcessRssMb,
  }
  console.log(`round trip +${latencyMs} ms, --jobs ${jobs}, rep ${rep}: archive ${archive.wallSeconds.toFixed(2)} s, restore ${restore.wallSeconds.toFixed(2)} s`)
  return sample
}

function report(): void {
  const rows: string[][] = []
  for (const latencyMs of LATENCIES) {
    for (const jobs of JOBS) {
      const of = samples.filter((s) => s.latencyMs === latencyMs && s.jobs === jobs)
      const m = (f: (s: Sample) => number, digits = 2) => median(of.map(f)).toFixed(digits)
      rows.push([`+${latencyMs} ms`, String(jobs), m((s) => s.archiveSeconds), m((s) => s.files / s.archiveSeconds, 0), m((s) => s.archiveMotoCpu, 1),
        m((s) => s.restoreSeconds), m((s) => s.files / s.restoreSeconds, 0), m((s) => s.restoreMotoCpu, 1), m((s) => s.restoreRssMb, 0)])
    }
  }
  console.log(`\n${samples[0]?.files ?? FILES} files, first archive into a new bucket and its restore, medians of ${REPS}:\n`)
  console.log(table(['round trip', 'jobs', 'archive s', 'files/s', 'moto cpu s', 'restore s', 'files/s', 'moto cpu s', 'restore MB'], rows))
  mkdirSync(join(JSON_FILE, '..'), { recursive: true })
  writeFileSync(JSON_FILE, JSON.stringify({ files: FILES, latencies: LATENCIES, jobs: JOBS, reps: REPS, samples }, null, 2) + '\n')
  console.log(`\nJSON: ${JSON_FILE}`)
}
