import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { NotFoundError } from '../../src/store/errors.js'
import { LocalStore } from '../../src/store/local-store.js'
import { ContentMismatchError, decodedChunks, fetchContent } from '../../src/restore/fetch-content.js'

const lock = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + 86_400_000) }
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function fetchInto(t: Test, store: LocalStore, ref: Parameters<typeof fetchContent>[1]) {
  const path = join(t.testdirName, `out-${Math.random()}`)
  const fd = openSync(path, 'w')
  try {
    const result = await fetchContent(store, ref, fd)
    return { result, bytes: readFileSync(path) }
  } finally {
    closeSync(fd)
  }
}

t.test('identity and gzip content are written decoded and verified', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const text = Buffer.from('line of text\n'.repeat(2000))
  const plain = await store.putBuffer(`content/${sha(text)}`, text, { ...lock, metadata: { sha256: sha(text), size: String(text.length), encoding: 'identity' } })
  const viaPlain = await fetchInto(t, store, { key: `content/${sha(text)}`, versionId: plain.versionId, sha256: sha(text) })
  t.same(viaPlain.bytes, text)
  t.match(viaPlain.result, { bytes: text.length, transferred: text.length, gzip: false })
  const zipped = gzipSync(text)
  const gz = await store.putBuffer(`content/${sha(text)}`, zipped, { ...lock, contentEncoding: 'gzip', metadata: { sha256: sha(text), size: String(text.length), encoding: 'gzip' } })
  const viaGzip = await fetchInto(t, store, { key: `content/${sha(text)}`, versionId: gz.versionId, sha256: sha(text) })
  t.same(viaGzip.bytes, text)
  t.match(viaGzip.result, { bytes: text.length, transferred: zipped.length, gzip: true })
})

t.test('content that does not hash to its key, or does not decode, or has the wrong size, is refused', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const good = Buffer.from('good content')
  const key = `content/${sha(good)}`
  const bad = await store.putBuffer(key, Buffer.from('tampered!!!!'), { ...lock, metadata: { sha256: sha(good), size: String(good.length), encoding: 'identity' } })
  const err = await fetchInto(t, store, { key, versionId: bad.versionId, sha256: sha(good) }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ContentMismatchError)
  t.match((err as Error).message, new RegExp(`^${key} \\(version ${bad.versionId}\\) hashes to ${sha(Buffer.from('tampered!!!!'))}, not ${sha(good)}: content is not what its key says$`))
  const notGzip = await store.putBuffer(key, good, { ...lock, contentEncoding: 'gzip', metadata: { encoding: 'gzip' } })
  const err2 = await fetchInto(t, store, { key, versionId: notGzip.versionId, sha256: sha(good) }).then(() => null, (e: unknown) => e)
  t.ok(err2 instanceof ContentMismatchError)
  t.match((err2 as Error).message, /does not decode as the gzip its metadata says it is/)
  const wrongSize = await store.putBuffer(key, good, { ...lock, metadata: { size: '999' } })
  const err3 = await fetchInto(t, store, { key, versionId: wrongSize.versionId, sha256: sha(good) }).then(() => null, (e: unknown) => e)
  t.match((err3 as Error).message, /decodes to 12 bytes, not the 999 of its metadata/)
})

t.test('a missing key or version is NotFoundError', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const err = await fetchInto(t, store, { key: `content/${'0'.repeat(64)}`, sha256: '0'.repeat(64) }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof NotFoundError)
})

t.test('bodies the store holds in memory are decoded at once; larger ones stream; both are verified alike', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const small = Buffer.from('small text\n'.repeat(100))
  const whole = await store.get(`content/${sha(small)}`, (await store.putBuffer(`content/${sha(small)}`, gzipSync(small), { ...lock, contentEncoding: 'gzip', metadata: { size: String(small.length), encoding: 'gzip' } })).versionId)
  t.ok(whole.whole, 'LocalStore hands a small body over whole')
  whole.body.destroy()
  const big = Buffer.alloc(3 * 1024 * 1024, 'x')
  const bigRef = { key: `content/${sha(big)}`, sha256: sha(big) }
  await store.putBuffer(bigRef.key, big, { ...lock, metadata: { size: String(big.length), encoding: 'identity' } })
  t.notOk((await store.get(bigRef.key)).whole, 'a body over 1 MiB streams')
  const viaStream = await fetchInto(t, store, bigRef)
  t.ok(viaStream.bytes.equals(big))
  t.match(viaStream.result, { bytes: big.length, transferred: big.length })

  const key = `content/${sha(small)}`
  const broken = await store.putBuffer(key, Buffer.from('not gzip at all'), { ...lock, contentEncoding: 'gzip', metadata: { size: String(small.length), encoding: 'gzip' } })
  const err = await fetchInto(t, store, { key, versionId: broken.versionId, sha256: sha(small) }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ContentMismatchError)
  t.match((err as Error).message, /does not decode as the gzip its metadata says it is/)

  const bomb = Buffer.alloc(6 * 1024 * 1024)
  const lying = await store.putBuffer(`content/${sha(bomb)}`, gzipSync(bomb), { ...lock, contentEncoding: 'gzip', metadata: { size: '10', encoding: 'gzip' } })
  const err2 = await fetchInto(t, store, { key: `content/${sha(bomb)}`, versionId: lying.versionId, sha256: sha(bomb) }).then(() => null, (e: unknown) => e)
  t.ok(err2 instanceof ContentMismatchError, 'a body that decodes to far more than its metadata says is refused, not decoded whole')
  t.match((err2 as Error).message, /decodes to more than the 10 bytes of its metadata/)
})

t.test('decodedChunks: the decoded content in chunks, verified once the last has passed', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const text = Buffer.from('line of text\n'.repeat(400_000))
  const ref = { key: `content/${sha(text)}`, sha256: sha(text) }
  const collect = async (versionId: string, r = ref) => {
    const chunks: Buffer[] = []
    const err = await (async () => {
      for await (const chunk of decodedChunks(await store.get(r.key, versionId), { ...r, versionId })) chunks.push(chunk)
    })().then(() => null, (e: unknown) => e)
    return { chunks, err }
  }
  const plain = await store.putBuffer(ref.key, text, { ...lock, metadata: { size: String(text.length), encoding: 'identity' } })
  const gz = await store.putBuffer(ref.key, gzipSync(text), { ...lock, contentEncoding: 'gzip', metadata: { size: String(text.length), encoding: 'gzip' } })
  for (const [name, versionId] of [['identity', plain.versionId], ['gzip', gz.versionId]] as const) {
    const { chunks, err } = await collect(versionId)
    t.equal(err, null, name)
    t.ok(Buffer.concat(chunks).equals(text), `${name}: the content`)
    t.ok(chunks.length > 1, `${name}: in chunks (${chunks.length})`)
  }
  const small = Buffer.from('small')
  const whole = await store.putBuffer(`content/${sha(small)}`, small, { ...lock, metadata: { size: '5' } })
  t.same((await collect(whole.versionId, { key: `content/${sha(small)}`, sha256: sha(small) })).chunks, [small], 'a body held whole: one chunk')

  const tampered = Buffer.from(text)
  tampered.writeUInt8(0x21, 1000)
  const bad = await store.putBuffer(ref.key, tampered, { ...lock, metadata: { size: String(text.length) } })
  const mismatch = await collect(bad.versionId)
  t.ok(mismatch.err instanceof ContentMismatchError, 'a mismatch is thrown after the last chunk')
  t.equal(Buffer.concat(mismatch.chunks).length, text.length, 'every chunk was passed on before')

  const bomb = Buffer.alloc(6 * 1024 * 1024)
  const lying = await store.putBuffer(`content/${sha(bomb)}`, gzipSync(bomb), { ...lock, contentEncoding: 'gzip', metadata: { size: '300000', encoding: 'gzip' } })
  const big = await collect(lying.versionId, { key: `content/${sha(bomb)}`, sha256: sha(bomb) })
  t.match((big.err as Error).message, /decodes to more than the 300000 bytes of its metadata/)
  t.ok(Buffer.concat(big.chunks).length <= 300_000, 'no byte past the stated size is passed on')
})
