import t from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'
import { runStage } from '../../src/cli/stage.js'
import { ContentSource, EMPTY_SHA256 } from '../../src/restore/content-source.js'
import { DecodeWorkers } from '../../src/restore/decode-workers.js'
import { ContentMismatchError } from '../../src/restore/fetch-content.js'
import { NotFoundError } from '../../src/store/errors.js'
import { WHOLE_BODY_BYTES } from '../../src/store/whole-body.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { TargetDirs } from '../../src/restore/target-dirs.js'
import { LocalStore } from '../../src/store/local-store.js'
import { DAY_MS, runBackup } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'
import { compareTrees } from '../helpers/tree-compare.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

t.test('empty files cost no request; identical files are copied from the first one restored', async (t) => {
  const files: Record<string, string> = {}
  for (let i = 0; i < 40; i++) files[`same${i}`] = 'the same licence text\n'.repeat(50)
  for (let i = 0; i < 10; i++) files[`empty${i}`] = ''
  files.other = 'something else\n'
  const base = t.testdir({ src: files })
  const backup = await runBackup(join(base, 'src'), join(base, 'work'), { host: 'h', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: ['--store', join(base, 'store')] })
  const io = testIO()
  t.equal(await runStage(makeRestoreStage({ confirm: null }), ['--store', join(base, 'store'), '--key', backup.key, '--target', join(base, 'target'), '--jobs', '1'], io), 0, io.err())
  t.same(await compareTrees(join(base, 'src'), join(base, 'target', base, 'src')), [])
  t.match(io.records().at(-1)!.counts, { written: 51, copiedLocally: 39, 'req.GetObject': 3 }, 'two contents downloaded, and the manifest')
})

t.test('a file changed since it was restored is not copied: the content comes from the store', async (t) => {
  const dir = t.testdir({ target: { first: 'original content\n' } })
  const store = LocalStore.open(join(dir, 'store'), { create: true })
  const content = Buffer.from('original content\n')
  const { versionId } = await store.putBuffer(`content/${sha(content)}`, content, { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY_MS) })
  const target = await TargetDirs.open(join(dir, 'target'))
  const source = new ContentSource(store, target)
  source.remember(sha(content), [Buffer.from('first')])
  writeFileSync(join(dir, 'target/first'), 'changed by someone, and long enough\n')
  const out = openSync(join(dir, 'out'), 'w')
  const got = await source.fill({ key: `content/${sha(content)}`, versionId, sha256: sha(content) })(out)
  closeSync(out)
  t.match(got, { from: 'store', bytes: content.length })
  t.same(readFileSync(join(dir, 'out')), content, 'exactly the content, nothing of the failed copy left')
  t.equal(store.requests.get('GetObject'), 1)
  const empty = openSync(join(dir, 'empty'), 'w')
  t.match(await source.fill({ key: `content/${EMPTY_SHA256}`, sha256: EMPTY_SHA256 })(empty), { from: 'empty', bytes: 0, transferred: 0 })
  closeSync(empty)
  t.equal(store.requests.get('GetObject'), 1, 'none for empty content')
  target.close()
})

t.test('a local store hands a small body over as its file: the decode worker reads it, one GetObject each', async (t) => {
  const dir = t.testdir({ target: {} })
  const store = LocalStore.open(join(dir, 'store'), { create: true })
  const retention = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY_MS) }
  const put = async (content: Buffer, gzip: boolean) => {
    const key = `content/${sha(content)}`
    const body = gzip ? gzipSync(content) : content
    const { versionId } = await store.putBuffer(key, body, { ...retention, metadata: { size: String(content.length), ...(gzip && { encoding: 'gzip' }) }, ...(gzip && { contentEncoding: 'gzip' }) })
    return { key, versionId, sha256: sha(content) }
  }
  const text = Buffer.from('a small text file, gzipped in the store\n'.repeat(100))
  const plain = Buffer.from('stored as it is\n')
  const large = Buffer.alloc(WHOLE_BODY_BYTES + 1, 7)
  // Small when stored, yet said to decode to more than a body decoded in one call may: streamed.
  const expands = Buffer.alloc(5 * 1024 * 1024, 0)
  const refs = { text: await put(text, true), plain: await put(plain, false), large: await put(large, false), expands: await put(expands, true) }
  const asked: string[] = []
  const get = store.get.bind(store)
  store.get = (key, versionId) => { asked.push(key); return get(key, versionId) }
  const target = await TargetDirs.open(join(dir, 'target'))
  const workers = new DecodeWorkers(1)
  t.teardown(() => workers.close())
  const source = new ContentSource(store, target, undefined, workers)
  const owner = { uid: process.getuid!(), gid: process.getgid!(), mode: 0o640 }
  const before = store.requests.get('GetObject')
  for (const [name, ref] of Object.entries(refs)) {
    const made = await source.write(ref, target.rootDir, Buffer.from(name), owner)
    t.equal(made.fetched.from, 'store', name)
  }
  t.same(readFileSync(join(dir, 'target/text')), text)
  t.same(readFileSync(join(dir, 'target/plain')), plain)
  t.same(readFileSync(join(dir, 'target/large')), large)
  t.same(readFileSync(join(dir, 'target/expands')), expands)
  t.same(asked, [refs.large.key, refs.expands.key], 'only the large body and the one that decodes large are got the usual way')
  t.equal(store.requests.get('GetObject') - before, 4, 'one GetObject per content, whichever way it was read')

  // A body whose file was removed by hand (its metadata kept): the error get() gives, and nothing written.
  const lost = Buffer.from('a body lost from the store\n'.repeat(20))
  const lostRef = await put(lost, true)
  rmSync(join(dir, 'store', lostRef.key, lostRef.versionId))
  const err = await source.write(lostRef, target.rootDir, Buffer.from('lost'), owner).then(() => null, (e: unknown) => e)
  t.ok(err instanceof NotFoundError, 'NotFoundError')
  t.match((err as Error).message, `no version ${lostRef.versionId}`)
  const gotErr = await store.get(lostRef.key, lostRef.versionId).then(() => null, (e: unknown) => e)
  t.equal((err as Error).message, (gotErr as Error).message, 'the same message as get()')

  // A body damaged in its file: the content's check refuses it.
  const damaged = Buffer.from('a body someone changed in the store\n'.repeat(20))
  const damagedRef = await put(damaged, false)
  writeFileSync(join(dir, 'store', damagedRef.key, damagedRef.versionId), Buffer.alloc(damaged.length, 0x21))
  await t.rejects(source.write(damagedRef, target.rootDir, Buffer.from('damaged'), owner), ContentMismatchError)
  t.same(readdirSync(join(dir, 'target')).sort(), ['expands', 'large', 'plain', 'text'], 'neither the lost nor the damaged one was written')
  target.close()
})
