/**
 * Time and memory of one password key derivation (scrypt) on this machine,
 * with the parameters new credentials packages are written with, or others:
 *
 *   npm run bench:kdf                 # the defaults, N=2^18 r=8 p=1
 *   npm run bench:kdf -- --log-n 19 --runs 3
 *
 * Prints one line. The memory figure is the growth of the process's peak
 * resident set over the first derivation (scrypt's working memory is
 * allocated and touched in full, so it shows there); the time is the
 * median wall time of --runs derivations, one after another. The load
 * average is printed too: on a busy machine the time is longer.
 */
import { cpus, loadavg } from 'node:os'
import minimist from 'minimist'
import { DEFAULT_KDF, deriveKey, kdfMemoryBytes, type KdfParams } from '../src/creds/kdf.js'

const argv = minimist(process.argv.slice(2), { string: ['log-n', 'r', 'p', 'runs'] })
const params: KdfParams = {
  log2N: Number(argv['log-n'] ?? DEFAULT_KDF.log2N),
  r: Number(argv.r ?? DEFAULT_KDF.r),
  p: Number(argv.p ?? DEFAULT_KDF.p),
}
const runs = Number(argv.runs ?? 5)
const MiB = 1024 * 1024

const password = Buffer.from('correct horse battery staple')
const salt = Buffer.alloc(32, 7)

const rssBefore = process.resourceUsage().maxRSS * 1024
const times: number[] = []
let rssGrowth = 0
for (let i = 0; i < runs; i++) {
  const start = performance.now()
  const key = await deriveKey(password, salt, params)
  times.push((performance.now() - start) / 1000)
  key.fill(0)
  if (i === 0) rssGrowth = process.resourceUsage().maxRSS * 1024 - rssBefore
}
times.sort((a, b) => a - b)
const median = times[Math.floor(times.length / 2)]!
const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
console.log(
  `kdf: scrypt N=2^${params.log2N} r=${params.r} p=${params.p}${params.log2N === DEFAULT_KDF.log2N && params.r === DEFAULT_KDF.r && params.p === DEFAULT_KDF.p ? ' (the default)' : ''}: ` +
  `${median.toFixed(2)} s per derivation (median of ${runs}: min ${times[0]!.toFixed(2)}, max ${times.at(-1)!.toFixed(2)}), ` +
  `peak RSS +${Math.round(rssGrowth / MiB)} MiB (scrypt works in ${Math.round(kdfMemoryBytes(params) / MiB)} MiB); ` +
  `node ${process.version}, ${cpus().length} x ${cpu}, load average ${loadavg()[0]!.toFixed(1)} (other work slows it)`,
)
