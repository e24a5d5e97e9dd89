/**
 * Benchmark of sysbackup-manifest (npm run bench:manifest): writes the
 * record stream of an upload of N entries (default 200,000; paths in a
 * scrambled order, as several pickers would give them), then runs the
 * built bin on it into a fresh local directory store with the default sort
 * memory and with smaller ones, and prints wall time, CPU time, peak RSS,
 * the sorted runs spilled and the manifest's compressed size. It then
 * compresses the manifest at several gzip levels, for the choice of
 * MANIFEST_GZIP_LEVEL.
 *
 *   npm run bench:manifest -- [--entries N] [--keep]
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = join(ROOT, 'bin/sysbackup-manifest.js')

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? Number(process.argv[at + 1]) : fallback
}

const entries = option('entries', 200_000)
const keep = process.argv.includes('--keep')

function quote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`
}

interface Measure { seconds: number, cpuSeconds: number, maxRssKb: number, stdout: string }

/** Runs `command` under /usr/bin/time: wall and CPU seconds, peak RSS, and its standard output. */
function timed(command: string[]): Measure {
  const result = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M %U %S', ...command], { encoding: 'utf8', maxBuffer: 1 << 26 })
  const line = result.stderr.split('\n').find((l) => l.startsWith('TIME '))
  if (!line || (result.status !== 0 && result.status !== 1)) throw new Error(`${command.map(quote).join(' ')} failed (${result.status}):\n${result.stderr}`)
  const [, seconds, rss, user, system] = line.split(' ')
  return { seconds: Number(seconds), cpuSeconds: Number(user) + Number(system), maxRssKb: Number(rss), stdout: result.stdout }
}

/** The input: an upload stream of `n` entries, a tenth of them directories. */
function writeInput(file: string, n: number): number {
  const now = Date.now()
  const retainUntil = new Date(now + 30 * 86_400_000).toISOString()
  const header = (producer: string) => JSON.stringify({ type: 'header', producer, protocol: 1, version: '0.1.0', startedAt: new Date(now).toISOString(), host: 'bench' })
  const trailer = (producer: string) => JSON.stringify({ type: 'trailer', producer, ok: true, counts: { records: n }, finishedAt: new Date(now).toISOString() })
  const lines = [header('sysbackup-upload'), header('sysbackup-hash'), header('sysbackup-pick')]
  for (let i = 0; i < n; i++) {
    // A multiplicative scramble: every index once, in no useful order.
    const j = (i * 7_919) % n
    const path = `/srv/data/d${j % 997}/s${(j >> 3) % 31}/file-${j}.dat`
    if (j % 10 === 0) {
      lines.push(JSON.stringify({ type: 'dir', path: `${path}.d`, mode: '0755', uid: 0, gid: 0, user: 'root', group: 'root', mtimeNs: '1700000000123456789', ctimeNs: '1700000000123456789', storageId: `2049:${j}`, nlink: 2 }))
      continue
    }
    const sha256 = createHash('sha256').update(String(j)).digest('hex')
    lines.push(JSON.stringify({
      type: 'file', path, mode: '0644', uid: 1000, gid: 1000, user: 'app', group: 'app', size: 1000 + j, mtimeNs: '1700000000123456789', ctimeNs: '1700000000123456789',
      storageId: `2049:${j}`, nlink: 1, sha256, readSize: 1000 + j, gzip: j % 3 === 0, lockedRead: true,
      key: `content/${sha256}`, versionId: `v${j}`, retainUntil, upload: 'reused',
    }))
  }
  lines.push(trailer('sysbackup-pick'), trailer('sysbackup-hash'), trailer('sysbackup-upload'))
  writeFileSync(file, lines.join('\n') + '\n')
  return statSync(file).size
}

const work = mkdtempSync(join(tmpdir(), 'bench-manifest-'))
try {
  const input = join(work, 'upload.ndjson')
  const inputBytes = writeInput(input, entries)
  console.log(`input: ${entries} entries, ${(inputBytes / 1048576).toFixed(1)} MiB of records`)
  console.log('')
  console.log('sort memory   wall s   CPU s   peak RSS MiB   sorted runs   manifest.gz MiB')
  let output = ''
  for (const [label, args] of [['64 MiB', ['--sort-memory', '64']], ['default 16', []], ['4 MiB', ['--sort-memory', '4']], ['1 MiB', ['--sort-memory', '1']]] as const) {
    const store = join(work, `store-${label.replace(/\W/g, '')}`)
    output = join(work, 'manifest.ndjson')
    const m = timed(['node', BIN, '--store', store, '--host', 'bench', '--tmp-dir', work, '-o', output, ...args, input])
    const records = m.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const manifest = records.find((r) => r.type === 'manifest')!
    const trailer = records.at(-1) as { counts: Record<string, number> }
    const key = manifest.key as string
    const object = join(store, key, manifest.versionId as string)
    console.log(`${label.padEnd(12)}  ${m.seconds.toFixed(2).padStart(6)}  ${m.cpuSeconds.toFixed(2).padStart(6)}  ${(m.maxRssKb / 1024).toFixed(0).padStart(13)}  ${String(trailer.counts.sortRuns).padStart(12)}  ${(statSync(object).size / 1048576).toFixed(2).padStart(16)}`)
  }
  console.log('')
  const text = readFileSync(output)
  console.log(`gzip of the ${(text.length / 1048576).toFixed(1)} MiB manifest (in this process, zlib):`)
  console.log('level   MiB     ratio   seconds')
  for (const level of [1, 4, 6, 9]) {
    const started = process.hrtime.bigint()
    const packed = gzipSync(text, { level })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    console.log(`${String(level).padStart(5)}   ${(packed.length / 1048576).toFixed(2).padStart(5)}   ${(text.length / packed.length).toFixed(1).padStart(5)}   ${seconds.toFixed(2).padStart(7)}`)
  }
} finally {
  if (keep) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
