/**
 * Benchmark of sysbackup-hash (`npm run bench:hash`).
 *
 * Builds a 20,000-file tree with the shared mktree.py, makes the input
 * record stream, and runs the built `bin/sysbackup-hash.js` as a process
 * with a cold files cache and then a warm one (same state dir), printing
 * wall time, files/s, bytes read and the child's peak RSS for each. Then
 * times the files cache itself at 100,000 entries.
 *
 * Options (after `--`): --files N (20000), --jobs-sweep 1,2,4,8 (cold runs
 * with --no-cache at each --jobs), --mktree PATH, --keep (leave the temp dir).
 */
import { spawn, spawnSync } from 'node:child_process'
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import minimist from 'minimist'
import { encodePath, encodePathField } from '../src/protocol/path-codec.js'
import type { Rec } from '../src/protocol/records.js'
import { FilesCache } from '../src/stages/hash/files-cache.js'

import { ourProgram, ROOT } from './lib/root.js'
const argv = minimist(process.argv.slice(2), { string: ['mktree', 'jobs-sweep'], boolean: ['keep'] })
const FILES = Number(argv.files ?? 20_000)
const MKTREE = String(argv.mktree ?? '/work/shared/bench/mktree.py')
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null

// ---------------------------------------------------------------------------
// STAND-IN FOR sysbackup-pick, until it is merged: an lstat walk that writes
// the entry records pick would. Replace with a run of bin/sysbackup-pick.js.
function* standInPick(dir: string): Generator<Rec> {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    const st = lstatSync(path, { bigint: true })
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : null
    if (type === null) continue
    const rec: Rec = {
      type, ...encodePath(path), mode: (Number(st.mode) & 0o7777).toString(8).padStart(4, '0'),
      uid: Number(st.uid), gid: Number(st.gid), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs),
      storageId: `${st.dev}:${st.ino}`, nlink: Number(st.nlink),
    }
    if (type === 'file') rec.size = Number(st.size)
    if (type === 'symlink') Object.assign(rec, encodePathField('target', readlinkSync(path, { encoding: 'buffer' })))
    yield rec
    if (type === 'dir') yield* standInPick(path)
  }
}
// ---------------------------------------------------------------------------

async function writeStream(path: string, records: Iterable<Rec>): Promise<{ records: number, files: number, bytes: number, newestCtimeNs: bigint }> {
  const out = createWriteStream(path)
  let n = 0, files = 0, bytes = 0, newest = 0n
  const write = (line: string) => new Promise<void>((resolve) => out.write(line) ? resolve() : out.once('drain', resolve))
  await write(JSON.stringify({ type: 'header', producer: 'bench-stand-in-pick', protocol: 1, version: '0', startedAt: new Date().toISOString() }) + '\n')
  for (const rec of records) {
    n++
    if (rec.type === 'file') { files++; bytes += rec.size as number }
    if (BigInt(rec.ctimeNs as string) > newest) newest = BigInt(rec.ctimeNs as string)
    await write(JSON.stringify(rec) + '\n')
  }
  await write(JSON.stringify({ type: 'trailer', producer: 'bench-stand-in-pick', ok: true, counts: { records: n }, finishedAt: new Date().toISOString() }) + '\n')
  await new Promise((resolve) => out.end(resolve))
  return { records: n, files, bytes, newestCtimeNs: newest }
}

interface RunResult { label: string, wallS: number, cpuS: number | null, counts: Record<string, number>, peakRssMiB: number | null, status: number | null }

/** Runs the built stage with `input` on stdin, stdout parsed for the trailer only. */
function runHash(label: string, input: string, args: string[]): Promise<RunResult> {
  const [node, ...program] = ourProgram('sysbackup-hash')
  const [cmd, cmdArgs] = TIME ? [TIME, ['-f', 'peak-rss-kib %M cpu-s %U %S', node!, ...program, ...args]] : [node!, [...program, ...args]]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
    createReadStream(input).pipe(child.stdin)
    let tail = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { tail = (tail + c.toString('utf8')).slice(-8192) })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8') })
    child.on('error', reject)
    child.on('close', (status) => {
      const wallS = (performance.now() - started) / 1000
      const lines = tail.trimEnd().split('\n')
      const trailer = JSON.parse(lines.at(-1)!) as { counts: Record<string, number> }
      const rss = /peak-rss-kib (\d+) cpu-s ([\d.]+) ([\d.]+)/.exec(stderr)
      const problems = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('peak-rss-kib'))
      if (problems.length > 0) console.log(`  (${label}: ${problems.length} stderr lines, first: ${problems[0]})`)
      const cpuS = rss ? Number(rss[2]) + Number(rss[3]) : null
      resolve({ label, wallS, cpuS, counts: trailer.counts, peakRssMiB: rss ? Number(rss[1]) / 1024 : null, status })
    })
  })
}

function report(r: RunResult): void {
  const c = r.counts
  const rss = r.peakRssMiB === null ? 'n/a' : `${r.peakRssMiB.toFixed(0)} MiB`
  const cpu = r.cpuS === null ? '' : ` (cpu ${r.cpuS.toFixed(2)} s)`
  console.log(`${r.label.padEnd(22)} ${r.wallS.toFixed(2).padStart(6)} s${cpu}  ${String(Math.round((c.files ?? 0) / r.wallS)).padStart(7)} files/s  `
    + `read ${String(c.filesRead).padStart(6)} files ${(c.bytesRead! / 1e6).toFixed(1).padStart(7)} MB  hits ${String(c.cacheHits).padStart(6)}  `
    + `peak RSS ${rss}  exit ${r.status}`)
}

async function benchCacheFormat(dir: string, entries: number): Promise<void> {
  const file = join(dir, 'cache-100k', 'files-cache')
  const cache = FilesCache.empty()
  for (let i = 0; i < entries; i++) {
    const key = `66306:${1_000_000 + i} ${i * 37 % 262144} 1700000000${String(i).padStart(9, '0')} 1700000001${String(i).padStart(9, '0')}`
    cache.remember(key, { sha256: (i.toString(16).padStart(8, '0')).repeat(8), gzip: i % 3 === 0 })
  }
  let t0 = performance.now()
  await cache.save(file, false)
  const saveMs = performance.now() - t0
  t0 = performance.now()
  const loaded = await FilesCache.load(file)
  const loadMs = performance.now() - t0
  if (loaded.problem || loaded.cache.loadedEntries !== entries) throw new Error(`cache round trip failed: ${loaded.problem}`)
  const heap = process.memoryUsage().heapUsed / 2 ** 20
  console.log(`files cache, ${entries} entries: ${(statSync(file).size / 1e6).toFixed(1)} MB on disk, save ${saveMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms (heap now ${heap.toFixed(0)} MiB)`)
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'stages', 'hash', 'hash-stage.js'))) throw new Error('build first: npm run build')
  if (!existsSync(MKTREE)) throw new Error(`${MKTREE} not found (give --mktree PATH)`)
  const dir = mkdtempSync(join(tmpdir(), 'bench-hash-'))
  try {
    const tree = join(dir, 'tree')
    let t0 = performance.now()
    const made = spawnSync('python3', [MKTREE, tree, '--files', String(FILES)], { stdio: ['ignore', 'ignore', 'inherit'] })
    if (made.status !== 0) throw new Error(`mktree.py exited ${made.status}`)
    console.log(`tree: ${FILES} files by mktree.py in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    const input = join(dir, 'picked.ndjson')
    t0 = performance.now()
    const stream = await writeStream(input, standInPick(tree))
    console.log(`input: ${stream.records} entry records (${stream.files} files, ${(stream.bytes / 1e6).toFixed(1)} MB) from the stand-in picker in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // Files changed within 2 s of a read are not cached (racy timestamps);
    // a real tree is older than that, so wait until this one is too.
    const settleMs = Number(stream.newestCtimeNs / 1_000_000n) + 2100 - Date.now()
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs))

    // Warm the page cache, so the cold run measures the stage, not the disk.
    spawnSync('sh', ['-c', `find "${tree}" -type f -exec cat {} + > /dev/null`])

    const state = join(dir, 'state')
    console.log(`\nsysbackup-hash (${TIME ? 'peak RSS from /usr/bin/time' : 'no /usr/bin/time: no RSS'}), 2 runs, same state dir:`)
    const cold = await runHash('cold cache', input, ['--state-dir', state, '--lock-timeout', '0'])
    report(cold)
    const warm = await runHash('warm cache', input, ['--state-dir', state, '--lock-timeout', '0'])
    report(warm)
    if (warm.counts.filesRead !== 0) console.log(`  note: the warm run read ${warm.counts.filesRead} files`)

    const sweep = argv['jobs-sweep'] ? String(argv['jobs-sweep']).split(',').map(Number) : []
    if (sweep.length > 0) console.log('\n--no-cache runs by --jobs:')
    for (const jobs of sweep) report(await runHash(`--no-cache --jobs ${jobs}`, input, ['--state-dir', join(dir, `state-${jobs}`), '--lock-timeout', '0', '--no-cache', '--jobs', String(jobs)]))

    console.log('')
    await benchCacheFormat(dir, 100_000)
  } finally {
    if (argv.keep) console.log(`kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

await main()
