/**
 * Benchmark of sysbackup-restore (`npm run bench:restore`).
 *
 * Builds a system-like tree with the shared mktree.py (20,000 files and
 * 4 × 64 MiB big files by default), backs it up into a local directory
 * store (the real sysbackup-pick and sysbackup-hash as processes, then a
 * stand-in for upload and manifest), and runs the built
 * `bin/sysbackup-restore.js` as a process: a first restore into an empty
 * target, then the same restore again (everything already there: the
 * resume path, which hashes every file on disk and downloads nothing).
 * Prints wall and CPU time, files/s, MB/s of content written and the
 * child's peak RSS (from /usr/bin/time). The store's files are in the page
 * cache, so these are the restore's own costs, not a disk's or a network's.
 *
 * Options (after `--`): --files N (20000), --big-mb M (64), --jobs-sweep
 * 1,4,8,16 (first restores at each --jobs), --mktree PATH, --keep.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import minimist from 'minimist'
import type { Rec } from '../src/protocol/records.js'
import { LocalStore } from '../src/store/local-store.js'
import { ROOT } from './lib/root.js'
import { standInUploadAndManifest } from './lib/stand-in-upload-manifest.js'

const argv = minimist(process.argv.slice(2), { string: ['mktree', 'jobs-sweep'], boolean: ['keep'] })
const FILES = Number(argv.files ?? 20_000)
const BIG_MB = Number(argv['big-mb'] ?? 64)
const MKTREE = String(argv.mktree ?? '/work/shared/bench/mktree.py')
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null

interface RunResult { label: string, wallS: number, cpuS: number | null, counts: Record<string, number>, peakRssMiB: number | null, status: number | null, errors: string[] }

/** Runs a built bin with `stdin` (or nothing), returning stdout; throws on failure. */
function runBin(name: string, args: string[], stdin?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', `${name}.js`), ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } })
    const out: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.on('error', reject)
    child.on('close', (status) => status === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${name} exited ${status}`)))
    child.stdin.end(stdin ?? '')
  })
}

function runRestore(label: string, args: string[]): Promise<RunResult> {
  const bin = join(ROOT, 'bin', 'sysbackup-restore.js')
  const [cmd, cmdArgs] = TIME ? [TIME, ['-f', 'peak-rss-kib %M cpu-s %U %S', process.execPath, bin, ...args]] : [process.execPath, [bin, ...args]]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
    let tail = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { tail = (tail + c.toString('utf8')).slice(-16384) })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8') })
    child.on('error', reject)
    child.on('close', (status) => {
      const wallS = (performance.now() - started) / 1000
      const trailer = JSON.parse(tail.trimEnd().split('\n').at(-1)!) as { counts: Record<string, number> }
      const rss = /peak-rss-kib (\d+) cpu-s ([\d.]+) ([\d.]+)/.exec(stderr)
      const errors = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('peak-rss-kib'))
      resolve({ label, wallS, cpuS: rss ? Number(rss[2]) + Number(rss[3]) : null, counts: trailer.counts, peakRssMiB: rss ? Number(rss[1]) / 1024 : null, status, errors })
    })
  })
}

function report(r: RunResult): void {
  const c = r.counts
  const files = (c.written ?? 0) + (c.skipped ?? 0) + (c.linked ?? 0)
  const rss = r.peakRssMiB === null ? 'n/a' : `${r.peakRssMiB.toFixed(0)} MiB`
  const cpu = r.cpuS === null ? '' : ` (cpu ${r.cpuS.toFixed(1)} s)`
  console.log(`${r.label.padEnd(26)} ${r.wallS.toFixed(2).padStart(6)} s${cpu}  ${String(Math.round((c.files ?? 0) / r.wallS)).padStart(6)} files/s  `
    + `${((c.bytesWritten ?? 0) / 1e6 / r.wallS).toFixed(1).padStart(6)} MB/s written  ${((c.bytesDownloaded ?? 0) / 1e6).toFixed(0).padStart(5)} MB read from the store  `
    + `written ${c.written} linked ${c.linked} skipped ${c.skipped} copied ${c.copiedLocally} failed ${c.failed}  GetObject ${c['req.GetObject'] ?? 0}  peak RSS ${rss}  exit ${r.status}`)
  if (files === 0) console.log('  (no files?)')
  for (const line of r.errors.slice(0, 3)) console.log(`  stderr: ${line}`)
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'restore', 'restore-stage.js'))) throw new Error('build first: npm run build')
  if (!existsSync(MKTREE)) throw new Error(`${MKTREE} not found (give --mktree PATH)`)
  const dir = mkdtempSync(join(tmpdir(), 'bench-restore-'))
  try {
    const tree = join(dir, 'tree')
    let t0 = performance.now()
    const made = spawnSync('python3', [MKTREE, tree, '--files', String(FILES), '--big-mb', String(BIG_MB)], { stdio: ['ignore', 'ignore', 'inherit'] })
    if (made.status !== 0) throw new Error(`mktree.py exited ${made.status}`)
    console.log(`tree: ${FILES} files and 4 x ${BIG_MB} MiB by mktree.py in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    t0 = performance.now()
    const conf = join(dir, 'conf.d')
    spawnSync('sh', ['-c', `mkdir -p '${conf}' && : > '${conf}/conf'`])
    const paths = spawnSync('find', [tree, '-print0'], { maxBuffer: 1 << 30 }).stdout
    const picked = await runBin('sysbackup-pick', ['--config', conf, '--stdin', '--null'], paths)
    const hashed = await runBin('sysbackup-hash', ['--config', conf, '--state-dir', join(dir, 'state'), '--lock-timeout', '0'], picked)
    const records = hashed.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec)
    const store = LocalStore.open(join(dir, 'store'), { create: true })
    const key = await standInUploadAndManifest(store, records, 'bench', new Date('2026-11-26T08:00:00Z'))
    const files = records.filter((r) => r.type === 'file')
    const bytes = files.reduce((sum, r) => sum + (r.size as number), 0)
    console.log(`backup: ${records.length} records, ${files.length} files, ${(bytes / 1e6).toFixed(0)} MB, into a local store in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    // The store's objects are in the page cache now; the restore reads them from there.

    const base = ['--store', join(dir, 'store'), '--key', key]
    console.log(`\nsysbackup-restore (${TIME ? 'peak RSS from /usr/bin/time' : 'no /usr/bin/time: no RSS'}):`)
    report(await runRestore('first restore, --jobs 8', [...base, '--target', join(dir, 'target')]))
    report(await runRestore('again: all there already', [...base, '--target', join(dir, 'target')]))
    const sweep = argv['jobs-sweep'] ? String(argv['jobs-sweep']).split(',').map(Number) : []
    for (const jobs of sweep) {
      const target = join(dir, `target-${jobs}`)
      report(await runRestore(`first restore, --jobs ${jobs}`, [...base, '--target', target, '--jobs', String(jobs)]))
      rmSync(target, { recursive: true, force: true })
    }
  } finally {
    if (argv.keep) console.log(`kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

await main()
