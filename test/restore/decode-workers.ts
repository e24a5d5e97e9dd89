import t from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { DecodeWorkers } from '../../src/restore/decode-workers.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

t.test('bodies are decoded, written from offset 0 and hashed, many at once over two workers', async (t) => {
  // Each body is a copy: a body with memory of its own is moved to the worker (see the last test).
  const dir = t.testdir({})
  const workers = new DecodeWorkers(2)
  t.teardown(() => workers.close())
  const contents = Array.from({ length: 40 }, (_, i) => Buffer.from(`file ${i}\n`.repeat(100 * (i + 1))))
  const fds = contents.map((_, i) => openSync(join(dir, `f${i}`), 'w'))
  try {
    const results = await Promise.all(contents.map((c, i) => workers.decodeInto(fds[i]!, i % 2 ? gzipSync(c) : Buffer.from(c), i % 2 === 1, 1 << 22)))
    results.forEach((r, i) => t.same(r, { bytes: contents[i]!.length, sha256: sha(contents[i]!) }))
  } finally {
    fds.forEach((fd) => closeSync(fd))
  }
  contents.forEach((c, i) => t.ok(readFileSync(join(dir, `f${i}`)).equals(c), `f${i} holds its content`))
})

t.test('errors come back with their codes: too large, not gzip, a descriptor not open for writing', async (t) => {
  const dir = t.testdir({ 'read-only': 'x' })
  const workers = new DecodeWorkers(1)
  t.teardown(() => workers.close())
  const out = openSync(join(dir, 'out'), 'w')
  const readOnly = openSync(join(dir, 'read-only'), 'r')
  try {
    await t.rejects(workers.decodeInto(out, gzipSync(Buffer.alloc(100_000)), true, 1000), { code: 'ERR_BUFFER_TOO_LARGE' })
    await t.rejects(workers.decodeInto(out, Buffer.from('not gzip'), true, 1000), { code: 'Z_DATA_ERROR' })
    await t.rejects(workers.decodeInto(readOnly, Buffer.from('bytes'), false, 1000), { code: 'EBADF', syscall: 'write', message: /^EBADF: bad file descriptor, write$/ })
    // The worker goes on after an error.
    t.same(await workers.decodeInto(out, Buffer.from('after'), false, 1000), { bytes: 5, sha256: sha(Buffer.from('after')) })
  } finally {
    closeSync(out)
    closeSync(readOnly)
  }
})

t.test('once closed, nothing more is taken', async (t) => {
  const workers = new DecodeWorkers(1)
  await workers.close()
  await t.rejects(workers.decodeInto(1, Buffer.from('x'), false, 10), /closed/)
})

t.test('a body that is the whole of its memory is moved to the worker; a slice of a larger one is copied', async (t) => {
  const dir = t.testdir({})
  const workers = new DecodeWorkers(1)
  t.teardown(() => workers.close())
  const out = openSync(join(dir, 'out'), 'w')
  try {
    const own = Buffer.from(new ArrayBuffer(8192)).fill('a')
    t.same(await workers.decodeInto(out, own, false, 1 << 20), { bytes: 8192, sha256: sha(Buffer.alloc(8192, 'a')) })
    t.equal(own.buffer.byteLength, 0, 'moved: detached here')
    const larger = Buffer.alloc(8192, 'b')
    const slice = larger.subarray(0, 4096)
    t.same(await workers.decodeInto(out, slice, false, 1 << 20), { bytes: 4096, sha256: sha(Buffer.alloc(4096, 'b')) })
    t.equal(larger.length, 8192, 'copied: the larger buffer is intact')
    t.equal(larger.toString('latin1', 8000, 8001), 'b')
  } finally {
    closeSync(out)
  }
})
