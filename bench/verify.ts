/**
 * Requests and time of `s3-sysbackup verify` (`npm run bench:verify`).
 *
 * Builds a local directory store shaped like a shared bucket: H hosts,
 * each with D daily backups of F files, half of whose content is common to
 * every host (the distribution's files) and half its own; each day changes
 * a few of each host's own files. Then verifies it with the library
 * (the command's own code, in process) in four ways and prints, for each,
 * the requests by S3 API name (LocalStore counts what S3 would be sent),
 * the estimated cost at S3 list prices, and the wall time:
 *   - every host's newest backup (the default),
 *   - every backup of every host (--all),
 *   - one host's newest backup (--host: the sweep of content/ gives way to
 *     listing the host's keys one by one when that is cheaper),
 *   - every host's newest with --read-data-subset 1/7.
 *
 * Options (after `--`): --hosts H (10), --files F (2000), --days D (3),
 * --keep (leave the store in place and print where).
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import minimist from 'minimist'
import { parseDataSample } from '../src/audit/data-sample.js'
import { verifyStore, type VerifyOptions } from '../src/audit/verify-store.js'
import { keyTimestamp } from '../src/stages/run-identity.js'
import { LocalStore } from '../src/store/local-store.js'
import { estimateRequestCost, formatDollars } from '../src/store/pricing.js'

const argv = minimist(process.argv.slice(2), { boolean: ['keep'] })
const HOSTS = Number(argv.hosts ?? 10)
const FILES = Number(argv.files ?? 2000)
const DAYS = Number(argv.days ?? 3)
const CHANGED_PER_DAY = Math.max(1, Math.floor(FILES / 100))
const RETAIN = new Date('2099-01-01T00:00:00Z')
const lock = { lockMode: 'GOVERNANCE' as const, retainUntil: RETAIN }

const dir = mkdtempSync(join(tmpdir(), 'bench-verify-'))
const store = LocalStore.open(join(dir, 'store'), { create: true })
/** Stored content versions by the text they hold. */
const stored = new Map<string, { key: string, versionId: string, sha256: string }>()

async function content(text: string) {
  let known = stored.get(text)
  if (known === undefined) {
    const sha256 = createHash('sha256').update(text).digest('hex')
    const { versionId } = await store.putBuffer(`content/${sha256}`, Buffer.from(text), lock)
    stored.set(text, known = { key: `content/${sha256}`, versionId, sha256 })
  }
  return known
}

async function build(): Promise<void> {
  const started = Date.now()
  for (let h = 0; h < HOSTS; h++) {
    const host = `host${String(h).padStart(3, '0')}`
    for (let d = 0; d < DAYS; d++) {
      const runTime = new Date(Date.UTC(2026, 10, 20 + d, 3, 0, 0))
      const lines: string[] = [JSON.stringify({ type: 'header', producer: 'sysbackup-manifest', protocol: 1, version: '0.1.0', startedAt: runTime.toISOString(), host, runTime: runTime.toISOString(), retainUntil: RETAIN.toISOString(), lockMode: 'GOVERNANCE' })]
      const entries: { path: string, rec: string }[] = []
      for (let f = 0; f < FILES; f++) {
        const common = f < FILES / 2
        // A host's own files change a few a day; the common ones never.
        const generation = !common && f % 100 < CHANGED_PER_DAY * 100 / FILES ? d : 0
        const text = common ? `common file ${f}\n` : `file ${f} of ${host}, generation ${generation}\n`
        const c = await content(text)
        const path = `/srv/${String(f).padStart(6, '0')}`
        entries.push({ path, rec: JSON.stringify({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: `1:${f}`, nlink: 1, size: text.length, sha256: c.sha256, key: c.key, versionId: c.versionId }) })
      }
      entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
      lines.push(...entries.map((e) => e.rec))
      const body = lines.map((l) => l + '\n').join('')
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
      const trailer = JSON.stringify({ type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: { entries: FILES }, digest, finishedAt: runTime.toISOString() })
      await store.putBuffer(`manifests/${host}/${keyTimestamp(runTime)}.ndjson.gz`, gzipSync(body + trailer + '\n'), { ...lock, contentType: 'application/x-ndjson' })
    }
  }
  console.log(`store: ${HOSTS} hosts × ${DAYS} backups × ${FILES} files; ${stored.size} content versions; built in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`)
}

async function measure(label: string, opts: Partial<VerifyOptions>): Promise<void> {
  const started = process.hrtime.bigint()
  let findings = 0
  const result = await verifyStore(store, { defaultMode: 'GOVERNANCE', concurrency: 16, now: new Date('2026-11-26T12:00:00Z'), ...opts }, () => { findings++ })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const cost = estimateRequestCost(result.requests)
  const requests = Object.entries(result.requests).map(([api, n]) => `${api} ${n}`).join(', ')
  console.log(`\n${label}`)
  console.log(`  ${result.manifests.length} backup(s), ${result.objects.versions} distinct versions referenced, ${findings} finding(s), ${seconds.toFixed(2)} s`)
  console.log(`  requests: ${requests}`)
  console.log(`  total ${Object.values(result.requests).reduce((a, b) => a + b, 0)} (${cost.putRequests} PUT-class, ${cost.getRequests} GET-class), estimated ${formatDollars(cost.dollars)} on S3`)
  console.log(`  listing: ${result.objects.sweepPages} sweep page(s), ${result.objects.keyListings} key listing(s)`)
}

try {
  await build()
  await measure('verify (every host\'s newest backup)', {})
  await measure('verify --all (every backup of every host)', { all: true })
  await measure('verify --host host000 (one host of many)', { hosts: ['host000'] })
  await measure('verify --read-data-subset 1/7', { readData: parseDataSample('1/7') })
} finally {
  if (argv.keep) console.log(`\nstore kept in ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
}
