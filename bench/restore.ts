/**
 * Benchmark of sysbackup-restore (`npm run bench:restore`).
 *
 * Builds a system-like tree with the shared mktree.py (20,000 files and
 * 4 × 64 MiB big files by default), backs it up into a local directory
 * store (pick | hash | upload | manifest, the built stages as processes),
 * and runs the built
 * `bin/sysbackup-restore.js` as a process: a first restore into an empty
 * target, then the same restore again (everything already there: the
 * resume path, which hashes every file on disk and downloads nothing).
 * Prints wall and CPU time, files/s, MB/s of content written and the
 * child's peak RSS (from /usr/bin/time). The store's files are in the page
 * cache, so these are the restore's own costs, not a disk's or a network's.
 *
 * Options (after `--`): --files N (20000), --big-mb M (64), --jobs-sweep
 * 1,4,8,16 (first restores at each --jobs), --mktree PATH, --keep,
 * --xattrs (an extended attribute on every file and directory, as an
 * SELinux system labels each: user.label, since setting security.selinux
 * needs SELinux).
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import minimist from 'minimist'
import type { Rec } from '../src/protocol/records.js'
import { ourProgram, ROOT } from './lib/root.js'

const argv = minimist(process.argv.slice(2), { string: ['mktree', 'jobs-sweep'], boolean: ['keep', 'xattrs'] })
const FILES = Number(argv.files ?? 20_000)
const BIG_MB = Number(argv['big-mb'] ?? 64)
const MKTREE = String(argv.mktree ?? '/work/shared/bench/mktree.py')
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null

interface RunResult { label: string, wallS: number, cpuS: number | null, counts: Record<string, number>, peakRssMiB: number | null, status: number | null, errors: string[] }

const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`
const bin = (name: string) => ourProgram(name).map(quote).join(' ')

/** Backs `tree` up into the local store `store` with the real stages, piped by bash; returns the manifest record. */
function backup(tree: string, store: string, conf: string, state: string): Rec {
  const run = `--store ${quote(store)} --host bench --run-time 2026-11-26T08:00:00Z --retain-until 2099-01-01T00:00:00Z`
  const command = `set -o pipefail; find ${quote(tree)} -print0 | ${bin('sysbackup-pick')} --config ${quote(conf)} --stdin --null 2>/dev/null`
    + ` | ${bin('sysbackup-hash')} --config ${quote(conf)} --state-dir ${quote(state)} --lock-timeout 0`
    + ` | ${bin('sysbackup-upload')} --config ${quote(conf)} --state-dir ${quote(state)} ${run}`
    + ` | ${bin('sysbackup-manifest')} --config ${quote(conf)} ${run}`
  const done = spawnSync('bash', ['-c', command], { env: { ...process.env, NODE_OPTIONS: '' }, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] })
  if (done.status !== 0) throw new Error(`backup pipeline exited ${done.status}`)
  return done.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).find((r) => r.type === 'manifest')!
}

function runRestore(label: string, args: string[]): Promise<RunResult> {
  const [node, ...program] = ourProgram('sysbackup-restore')
  const [cmd, cmdArgs] = TIME ? [TIME, ['-f', 'peak-rss-kib %M cpu-s %U %S', node!, ...program, ...args]] : [node!, [...program, ...args]]
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
    + `written ${c.written} linked ${c.linked} skipped ${c.skipped} copied ${c.copiedLocally} failed ${c.failed}  xattrsSet ${c.xattrsSet ?? 0}  GetObject ${c['req.GetObject'] ?? 0}  peak RSS ${rss}  exit ${r.status}`)
  if (files === 0) console.log('  (no files?)')
  for (const line of r.errors.slice(0, 3)) console.log(`  stderr: ${line}`)
}

/** Gives every file and directory under `tree` an attribute shaped like an SELinux label. */
function labelEverything(tree: string): void {
  const program = `import os, sys
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for p in [root] + [os.path.join(root, f) for f in files if not os.path.islink(os.path.join(root, f))]:
        os.setxattr(p, 'user.label', b'system_u:object_r:usr_t:s0')
        n += 1
print(n)`
  const done = spawnSync('python3', ['-c', program, tree], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (done.status !== 0) throw new Error(`setting the attributes exited ${done.status}`)
  console.log(`xattrs: user.label on ${done.stdout.trim()} files and directories`)
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
    if (argv.xattrs) labelEverything(tree)

    t0 = performance.now()
    const conf = join(dir, 'conf.d')
    spawnSync('mkdir', ['-p', conf])
    writeFileSync(join(conf, 'conf'), '')
    const manifest = backup(tree, join(dir, 'store'), conf, join(dir, 'state'))
    const key = manifest.key as string
    const counts = manifest.counts as Record<string, number>
    console.log(`backup: ${counts.entries} entries, ${counts.files} files, ${(counts.bytes! / 1e6).toFixed(0)} MB, into a local store by pick | hash | upload | manifest in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
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
