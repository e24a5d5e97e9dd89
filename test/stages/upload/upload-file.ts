import t from 'tap'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { DEFAULT_GZIP_LEVEL } from '../../../src/stages/upload/gzip-level.js'
import { SMALL_FILE_MAX, streamMemory, uploadFile, type UploadFileOptions } from '../../../src/stages/upload/upload-file.js'
import { StoreError } from '../../../src/store/errors.js'
import { LocalStore } from '../../../src/store/local-store.js'
import { DEFAULT_PART_SIZE } from '../../../src/store/parts.js'
import { Limiter } from '../../../src/util/limiter.js'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** Upload options on a local store in `dir`, with `compressions` as the compression limit. */
function optionsIn(dir: string, compressions: Limiter): UploadFileOptions & { store: LocalStore } {
  return {
    store: LocalStore.open(join(dir, 'store'), { create: true }),
    lockMode: 'GOVERNANCE',
    retainUntil: new Date(Date.now() + 86_400_000),
    gzipLevel: DEFAULT_GZIP_LEVEL,
    smallFileMax: SMALL_FILE_MAX,
    streamBytes: streamMemory(DEFAULT_PART_SIZE),
    memory: new Limiter(64 * 1024 * 1024),
    compressions,
    signal: new AbortController().signal,
    isKnown: () => false,
  }
}

/** Resolves once `limiter` has a run waiting (the caller has reached it); rejects after 5 s. */
async function waitingOn(limiter: Limiter): Promise<void> {
  const deadline = Date.now() + 5000
  while (limiter.waitingCount === 0) {
    if (Date.now() > deadline) throw new Error('nothing came to wait on the limiter')
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

t.test('a small gzip-encoded file waits for a compression slot, then is stored gzip-encoded under its hash', async (t) => {
  const dir = t.testdir({})
  const content = Buffer.from('a line of a configuration file\n'.repeat(2000))
  const path = join(dir, 'file')
  writeFileSync(path, content)
  const compressions = new Limiter(1)
  const opts = optionsIn(dir, compressions)
  let release!: () => void
  const held = compressions.run(1, () => new Promise<void>((resolve) => { release = resolve }))
  let settled = false
  const upload = uploadFile(path, { sha256: sha256(content), size: content.length, gzip: true }, opts).finally(() => { settled = true })
  await waitingOn(compressions)
  t.notOk(settled, 'not stored while every compression slot is taken')
  release()
  await held
  const outcome = await upload
  t.match(outcome, { kind: 'stored', sha256: sha256(content), readSize: content.length })
  if (outcome.kind !== 'stored') return
  const { body } = await opts.store.get(`content/${sha256(content)}`, outcome.versionId)
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  t.same(gunzipSync(Buffer.concat(chunks)), content, 'the stored body decodes to the file')
})

t.test('content stored as it is does not wait for compressions', async (t) => {
  const dir = t.testdir({})
  const content = Buffer.from('already compressed, say')
  const path = join(dir, 'file')
  writeFileSync(path, content)
  const compressions = new Limiter(1)
  let release!: () => void
  const held = compressions.run(1, () => new Promise<void>((resolve) => { release = resolve }))
  const outcome = await uploadFile(path, { sha256: sha256(content), size: content.length, gzip: false }, optionsIn(dir, compressions))
  t.match(outcome, { kind: 'stored', sha256: sha256(content) })
  t.equal(compressions.waitingCount, 0)
  release()
  await held
})

t.test('a store that gives up on a streamed body with a read under way: the file stays open until that read has ended', async (t) => {
  const dir = t.testdir({})
  const content = Buffer.alloc(3 * 1024 * 1024, 'x')
  const path = join(dir, 'file')
  writeFileSync(path, content)
  const opts = optionsIn(dir, new Limiter(1))
  const readEnds: number[] = []
  opts.smallFileMax = 1024 // streamed, in chunks of 1 MiB
  opts.afterChunk = async (_path, bytes) => { readEnds.push(bytes) }
  // Takes the first chunk, asks for the next without waiting for it, and fails.
  opts.store.putStream = async (_key, body) => {
    const chunks = body[Symbol.asyncIterator]()
    await chunks.next()
    chunks.next().catch(() => {})
    throw new StoreError('UploadPart', 'test', 'InternalError', 'the part failed')
  }
  await t.rejects(uploadFile(path, { sha256: sha256(content), size: content.length, gzip: false }, opts), { code: 'InternalError' })
  t.same(readEnds, [1024 * 1024, 2 * 1024 * 1024], 'the second read had ended when the upload gave up')
})
