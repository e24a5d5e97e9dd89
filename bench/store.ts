// Benchmark of the local directory store (src/store/local-store.ts): put
// throughput through the store, then a full version listing of a store
// with many content keys. Prints its figures; run with
//   npm run bench:store -- [KEYS]        (default 100000)
// Uses a temporary directory
// under $TMPDIR, removed at the end.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalStore } from '../src/store/local-store.js'
import type { Store } from '../src/store/store.js'
import { mapUnordered } from '../src/util/concurrency.js'

const keys = Number(process.argv[2] ?? 100_000)
const throughStore = Math.min(keys, 2000)
const root = mkdtempSync(join(tmpdir(), 'bench-store-'))
const dir = join(root, 'store')
const mib = (n: number) => (n / 2 ** 20).toFixed(1)
const sha = (i: number) => createHash('sha256').update(String(i)).digest('hex')

try {
  const store = LocalStore.open(dir, { create: true })
  const retainUntil = new Date(Date.now() + 86_400_000)
  const opts = { lockMode: 'GOVERNANCE' as const, retainUntil, contentEncoding: 'gzip' }
  const body = Buffer.alloc(4096, 7)

  let t0 = performance.now()
  for await (const _ of mapUnordered(Array.from({ length: throughStore }, (_, i) => i), 16, (i) => store.putBuffer(`content/${sha(i)}`, body, opts)));
  const putMs = performance.now() - t0
  console.log(`putBuffer: ${throughStore} objects of 4 KiB, 16 at a time: ${(putMs / 1000).toFixed(2)} s, ${(throughStore / (putMs / 1000)).toFixed(0)} objects/s (each fsynced: bytes, metadata, directory)`)

  // The rest is laid out directly, as the store would write it, to keep the run short.
  const versionId = '20260101T000000.000Z-0000'
  const meta = (key: string) => JSON.stringify({ key, versionId, size: body.length, lastModified: '2026-01-01T00:00:00.000Z', sha256: '', metadata: {}, contentType: 'application/octet-stream', contentEncoding: 'gzip', lockMode: 'GOVERNANCE', retainUntil: retainUntil.toISOString() })
  for (let i = throughStore; i < keys; i++) {
    const key = `content/${sha(i)}`
    mkdirSync(join(dir, key))
    writeFileSync(join(dir, key, versionId), body, { mode: 0o444 })
    writeFileSync(join(dir, key, `${versionId}.json`), meta(key))
  }

  const listings: [string, (s: Store) => AsyncIterable<unknown[]>][] = [['listVersions', (s) => s.listVersions('content/')], ['listLatest', (s) => s.listLatest('content/')]]
  for (const [name, list] of listings) {
    const fresh = LocalStore.open(dir)
    const rss0 = process.memoryUsage().rss
    let peak = rss0
    let items = 0
    let pages = 0
    t0 = performance.now()
    for await (const page of list(fresh)) {
      pages++
      items += page.length
      peak = Math.max(peak, process.memoryUsage().rss)
    }
    const ms = performance.now() - t0
    console.log(`${name}('content/') over ${keys} keys: ${items} items in ${pages} pages, ${(ms / 1000).toFixed(2)} s (${(ms * 1000 / items).toFixed(1)} µs per item), RSS +${mib(peak - rss0)} MiB (peak ${mib(peak)} MiB)`)
  }

  const fresh = LocalStore.open(dir)
  t0 = performance.now()
  for (let i = 0; i < 1000; i++) await fresh.head(`content/${sha((i * 7919) % keys)}`)
  console.log(`head: 1000 random keys: ${(performance.now() - t0).toFixed(0)} ms`)
} finally {
  rmSync(root, { recursive: true, force: true })
}
