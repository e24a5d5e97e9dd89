/**
 * Decoding whole gzip bodies, as a restore does for small files
 * (`npm run bench:gunzip`): gunzipSync as Node's defaults make it, into one
 * buffer of the expected size, and gunzipWhole (src/util/gunzip-whole.ts).
 *
 * The bodies are the files under DIR (default /usr/share/doc and
 * /usr/share/man, then /etc) of 256 bytes to 1 MiB, gzipped at the upload
 * stage's default level; each variant decodes all of them, interleaved,
 * several rounds, and the medians are printed.
 *
 *   npm run bench:gunzip -- [--rounds N] [--limit N] [DIR ...]
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import minimist from 'minimist'
import { DEFAULT_GZIP_LEVEL } from '../src/stages/upload/gzip-level.js'
import { gunzipWhole } from '../src/util/gunzip-whole.js'
import { median } from './lib/stats.js'

const argv = minimist(process.argv.slice(2))
const ROUNDS = Number(argv.rounds ?? 5)
const LIMIT = Number(argv.limit ?? 10_000)
const DIRS = argv._.length > 0 ? argv._.map(String) : ['/usr/share/doc', '/usr/share/man', '/etc']
const MAX_OUTPUT = 64 * 1024 * 1024

interface Body { gz: Buffer, size: number }

function collect(dir: string, out: Body[]): void {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  for (const e of entries) {
    if (out.length >= LIMIT) return
    const path = join(dir, e.name)
    if (e.isDirectory()) collect(path, out)
    else if (e.isFile()) {
      let data: Buffer
      try {
        data = readFileSync(path)
      } catch {
        continue
      }
      if (data.length >= 256 && data.length <= 1024 * 1024) out.push({ gz: gzipSync(data, { level: DEFAULT_GZIP_LEVEL }), size: data.length })
    }
  }
}

const bodies: Body[] = []
for (const dir of DIRS) collect(dir, bodies)
const decoded = bodies.reduce((n, b) => n + b.size, 0)
console.log(`${bodies.length} bodies from ${DIRS.join(' ')}: ${(decoded / 1048576).toFixed(1)} MiB decoded`)

const variants: Record<string, (b: Body) => Buffer> = {
  'gunzipSync': (b) => gunzipSync(b.gz, { maxOutputLength: MAX_OUTPUT }),
  'gunzipSync, one buffer': (b) => gunzipSync(b.gz, { maxOutputLength: MAX_OUTPUT, chunkSize: Math.max(64, b.size + 1) }),
  'gunzipWhole': (b) => gunzipWhole(b.gz, b.size, MAX_OUTPUT),
}
const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, decode] of Object.entries(variants)) {
    const started = process.hrtime.bigint()
    for (const b of bodies) if (decode(b).length !== b.size) throw new Error(`${name}: a body decoded to the wrong size`)
    times[name]!.push(Number(process.hrtime.bigint() - started) / 1e9)
  }
}
const base = median(times.gunzipSync!)
for (const [name, t] of Object.entries(times)) {
  const m = median(t)
  console.log(`${name.padEnd(24)} ${m.toFixed(3)} s  ${(decoded / 1048576 / m).toFixed(0)} MiB/s  ${(m / base).toFixed(2)}x`)
}
