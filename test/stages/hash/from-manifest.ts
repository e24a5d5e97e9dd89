import t, { type Test } from 'tap'
import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { runBin, type BinResult } from '../../helpers/bin.js'
import { testDir } from '../../helpers/files.js'
import { parseRecords } from '../../helpers/io.js'
import { LOCAL_STORE, motoStore, type StoreKind } from '../../helpers/store-kinds.js'
import type { Rec } from '../../../src/protocol/records.js'
import type { Store } from '../../../src/store/store.js'

// sysbackup-hash --from-manifest, as `s3-sysbackup archive` runs it: a run
// that lost its state directory takes the hashes of unchanged files from
// the host's newest manifest instead of reading every file again, and
// still reads what changed, and what was too new to trust.

const MOTO = motoStore(t)

async function manifestRecords(store: Store, run: BinResult): Promise<Rec[]> {
  const { key } = (JSON.parse(run.stdout) as { manifest: { key: string } }).manifest
  const { body } = await store.get(key)
  const chunks: Buffer[] = []
  for await (const c of body) chunks.push(c as Buffer)
  return parseRecords(gunzipSync(Buffer.concat(chunks)).toString('utf8'))
}

function hashCounts(records: Rec[]): Record<string, number> {
  const stage = records.find((r) => r.type === 'stage' && r.producer === 'sysbackup-hash') as { trailer?: { counts?: Record<string, number> } } | undefined
  return stage?.trailer?.counts ?? {}
}

async function cold(t: Test, kind: StoreKind): Promise<void> {
  const store = await kind.fresh(t)
  const root = testDir(t)
  const tree = join(root, 'tree')
  mkdirSync(tree)
  writeFileSync(join(tree, 'old.txt'), 'unchanged for a while\n')
  writeFileSync(join(tree, 'changed.txt'), 'first version\n')
  // Older than the first run's time minus the 2 s racy window (its key has whole seconds).
  await sleep(3100)
  writeFileSync(join(tree, 'racy.txt'), 'written just before the run\n')
  mkdirSync(join(store.configDir, 'pickers.d'))
  writeFileSync(join(store.configDir, 'pickers.d', '10-tree'), `#!/bin/sh\nfind '${tree}' -type f -print0\n`)
  chmodSync(join(store.configDir, 'pickers.d', '10-tree'), 0o755)
  const stateDir = join(root, 'state')
  const archive = () => runBin('s3-sysbackup', ['archive', '--config', store.configDir, '--state-dir', stateDir, '--host', 'box1', '--json'], { env: kind.env, timeoutMs: 120_000 })

  const first = await archive()
  t.equal(first.status, 0, first.stderr)
  t.match(hashCounts(await manifestRecords(await store.open(), first)), { cacheLoaded: 0, cacheSeeded: 0, filesRead: 3 }, 'the first run has no manifest to start from')

  appendFileSync(join(tree, 'changed.txt'), 'second version\n')
  rmSync(stateDir, { recursive: true })
  const second = await archive()
  t.equal(second.status, 0, second.stderr)
  const records = await manifestRecords(await store.open(), second)
  t.match(hashCounts(records), { cacheLoaded: 0, cacheSeeded: 2, cacheHits: 1, filesRead: 2 },
    'old.txt and changed.txt (as it was) from the manifest; racy.txt was too new to trust; old.txt not read again')
  for (const name of ['old.txt', 'changed.txt', 'racy.txt']) {
    const entry = records.find((r) => r.path === join(tree, name))
    t.equal(entry?.sha256, createHash('sha256').update(readFileSync(join(tree, name))).digest('hex'), `${name}: the hash of its content now`)
  }
  t.match(JSON.parse(second.stdout), { outcome: 'complete', contentsStored: 1 }, 'only the changed content is stored')
  const uploadCounts = (records.find((r) => r.type === 'stage' && r.producer === 'sysbackup-upload') as { trailer?: { counts?: Record<string, number> } }).trailer?.counts
  t.equal(uploadCounts?.manifestEntries, 3, 'the upload stage knows the versions of the first manifest\'s three contents')
  t.equal((JSON.parse(second.stdout) as { requests: Record<string, number> }).requests.GetObject, 1,
    'one GetObject of the manifest, read once for the hash stage and the upload stage (manifest-share.ts)')
  t.equal(uploadCounts?.['req.HeadObject'], 1, 'one HEAD, of the changed content only, which no manifest names')

  // Files written within 2 s of the second run's reads were not cached by it (racy), and are read again.
  const counts = hashCounts(await manifestRecords(await store.open(), await archive()))
  t.equal(counts.cacheSeeded, 0, 'the next run has its files cache again: no manifest is read')
  t.ok(counts.cacheLoaded! >= 1 && counts.cacheHits! >= 1, 'old.txt is in it')
  t.equal(counts.cacheHits! + counts.filesRead!, 3)
}

for (const kind of [LOCAL_STORE, MOTO]) {
  t.test(`${kind.name}: with the state directory lost, only changed (and too recent) files are read again`, (t) => cold(t, kind))
}

t.test('--host and --store are only for --from-manifest', async (t) => {
  for (const option of ['--host=box1', '--store=/tmp']) {
    const run = await runBin('sysbackup-hash', [option], { stdin: '' })
    t.equal(run.status, 2, option)
    t.match(run.stderr, new RegExp(`^sysbackup-hash: --${option.slice(2, option.indexOf('='))} is for --from-manifest`))
  }
})
