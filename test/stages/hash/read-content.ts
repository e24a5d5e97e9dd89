import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, fstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { entropyBitsPerByte, GZIP_MIN_BYTES, GZIP_PROBE_BYTES, GZIP_PROBE_MAX_ENTROPY, GZIP_SAMPLE_BYTES, GZIP_SURE_MIN_BYTES, gzipPays } from '../../../src/stages/hash/gzip-decision.js'
import { openRegular, readContent, type ContentRead, type ReadOutcome } from '../../../src/stages/hash/read-content.js'
import { holdExclusiveLock, textOf } from '../../helpers/files.js'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** Reads with a small buffer, so a few MiB take many chunks. */
function read(path: string, lockTimeoutMs = 1000, bufferBytes = 64 * 1024): Promise<ReadOutcome> {
  return readContent(path, { lockTimeoutMs, buffer: Buffer.alloc(bufferBytes) })
}

function asRead(t: Test, outcome: ReadOutcome): ContentRead {
  if (outcome.kind !== 'read') throw new Error(`expected a read, got ${JSON.stringify(outcome)}`)
  t.pass('read')
  return outcome
}

t.test('sha256 and readSize match crypto for empty, small and multi-chunk files', async (t) => {
  const dir = t.testdir({})
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['small', Buffer.from('hello, world\n')],
    ['exact chunk', randomBytes(64 * 1024)],
    ['several MiB', Buffer.concat([randomBytes(3 * 1024 * 1024), Buffer.from(textOf(700_000))])],
  ]
  for (const [name, bytes] of cases) {
    const path = join(dir, name)
    writeFileSync(path, bytes)
    const r = asRead(t, await read(path))
    t.equal(r.sha256, sha256(bytes), `${name}: sha256`)
    t.equal(r.readSize, bytes.length, `${name}: readSize`)
    t.same(r.lock, { locked: true, waited: false }, `${name}: read under the shared lock at once`)
    t.equal(r.before.size, BigInt(bytes.length))
    t.equal(r.after.mtimeNs, r.before.mtimeNs, `${name}: unchanged during the read`)
  }
})

t.test('any buffer size gives the same hash and gzip decision', async (t) => {
  const dir = t.testdir({})
  const contents = [randomBytes(2 * 1024 * 1024 + 17), Buffer.from(textOf(300_000)), Buffer.from(textOf(5000))]
  for (const [i, bytes] of contents.entries()) {
    const path = join(dir, `f${i}`)
    writeFileSync(path, bytes)
    const results = []
    // 4 KiB reads assemble the 16 KiB gzip sample from several chunks.
    for (const size of [4096, 64 * 1024, 1024 * 1024]) {
      const r = asRead(t, await read(path, 0, size))
      results.push({ sha256: r.sha256, gzip: r.gzip, readSize: r.readSize })
    }
    t.same(results, Array(3).fill({ sha256: sha256(bytes), gzip: i > 0, readSize: bytes.length }), `content ${i}`)
  }
})

t.test('gzip: true for text, false for random bytes and tiny files', async (t) => {
  const dir = t.testdir({
    'text.log': textOf(200_000),
    'short.conf': textOf(GZIP_MIN_BYTES + 200),
    'tiny.txt': 'a'.repeat(GZIP_MIN_BYTES - 1),
    'empty': '',
  })
  writeFileSync(join(dir, 'random.bin'), randomBytes(300_000))
  writeFileSync(join(dir, 'random-then-text'), Buffer.concat([randomBytes(GZIP_SAMPLE_BYTES), Buffer.from(textOf(500_000))]))
  const gzipOf = async (name: string) => asRead(t, await read(join(dir, name))).gzip
  t.equal(await gzipOf('text.log'), true, 'text compresses')
  t.equal(await gzipOf('short.conf'), true, 'a short text file just above the minimum still pays')
  t.equal(await gzipOf('random.bin'), false, 'random bytes do not')
  t.equal(await gzipOf('tiny.txt'), false, 'below the minimum size, even a run of one letter is not gzipped')
  t.equal(await gzipOf('empty'), false)
  t.equal(await gzipOf('random-then-text'), false, 'only the first 16 KiB is judged')
})

t.test('gzipPays: an entropy probe, then the sample against the 90% threshold', async (t) => {
  t.equal(gzipPays(Buffer.alloc(GZIP_MIN_BYTES - 1, 0x61)), false)
  t.equal(gzipPays(Buffer.alloc(GZIP_MIN_BYTES, 0x61)), true)
  const S = GZIP_SAMPLE_BYTES
  // Zeros, then random bytes: the probe passes them, deflate on the whole sample decides.
  t.equal(gzipPays(Buffer.concat([Buffer.alloc(S / 2), randomBytes(S / 2)])), true, 'half zeros: about 50%')
  t.equal(gzipPays(Buffer.concat([Buffer.alloc(S / 16), randomBytes(S - S / 16)])), false, '94% random')
  // Hex digits have 4 bits of entropy per byte: the probe passes them to deflate.
  t.equal(gzipPays(Buffer.from(randomBytes(S / 2).toString('hex'))), true, 'hex text')
  // The documented miss: even bytes for the first 4 KiB, so deflate is never tried.
  t.equal(gzipPays(Buffer.concat([randomBytes(GZIP_PROBE_BYTES), Buffer.alloc(S - GZIP_PROBE_BYTES)])), false)
})

t.test('gzipPays: a sample of 4 KiB or more with little entropy pays without a deflate; other samples are deflated', async (t) => {
  const zlib = await import('node:zlib')
  let deflates = 0
  const { gzipPays: pays } = await t.mockImport<typeof import('../../../src/stages/hash/gzip-decision.js')>('../../../src/stages/hash/gzip-decision.js', {
    'node:zlib': { ...zlib, deflateRawSync: (...args: Parameters<typeof zlib.deflateRawSync>) => { deflates++; return zlib.deflateRawSync(...args) } },
  })
  const S = GZIP_SAMPLE_BYTES
  t.equal(pays(Buffer.from(textOf(S))), true, 'text')
  t.equal(pays(Buffer.from(randomBytes(S / 2).toString('hex'))), true, 'hex text (4 bits a byte)')
  t.equal(pays(Buffer.from(textOf(GZIP_SURE_MIN_BYTES))), true, 'text of exactly the minimum')
  t.equal(deflates, 0, 'none of them deflated')
  t.equal(pays(Buffer.from(textOf(GZIP_SURE_MIN_BYTES - 1))), true, 'shorter text')
  t.equal(deflates, 1, 'shorter text is deflated')
  t.equal(pays(Buffer.concat([Buffer.alloc(S / 16), randomBytes(S - S / 16)])), false, '94% random')
  t.equal(deflates, 2, 'a sample past the entropy limit is deflated')
})

t.test('entropyBitsPerByte', async (t) => {
  t.equal(entropyBitsPerByte(Buffer.alloc(100, 7)), 0)
  t.equal(entropyBitsPerByte(Buffer.from('abababab')), 1)
  t.equal(entropyBitsPerByte(Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256))), 8)
  t.ok(entropyBitsPerByte(randomBytes(GZIP_PROBE_BYTES)) > GZIP_PROBE_MAX_ENTROPY, 'random bytes are above the probe limit')
  t.ok(entropyBitsPerByte(Buffer.from(textOf(GZIP_PROBE_BYTES))) < 5.5, 'text is far below')
})

t.test('a path that vanished is "gone"', async (t) => {
  const dir = t.testdir({ sub: { f: 'x' } })
  t.same(await read(join(dir, 'nothing')), { kind: 'gone', code: 'ENOENT' })
  writeFileSync(join(dir, 'plain'), 'x')
  t.same(await read(join(dir, 'plain', 'below')), { kind: 'gone', code: 'ENOTDIR' }, 'a parent that became a file')
})

t.test('a path that is no longer a regular file is not read', async (t) => {
  const dir = t.testdir({ target: 'content' })
  mkdirSync(join(dir, 'now-a-dir'))
  symlinkSync(join(dir, 'target'), join(dir, 'now-a-link'))
  execFileSync('mkfifo', [join(dir, 'now-a-fifo')])
  t.same(await read(join(dir, 'now-a-dir')), { kind: 'not-regular', what: 'a directory' })
  t.same(await read(join(dir, 'now-a-link')), { kind: 'not-regular', what: 'a symbolic link' }, 'the link is not followed')
  t.same(await read(join(dir, 'now-a-fifo')), { kind: 'not-regular', what: 'a FIFO' })
  t.same(await read('/dev/null'), { kind: 'not-regular', what: 'a character device' })
})

t.test('openRegular: a FIFO opens without waiting for a writer and is refused', async (t) => {
  // readContent lstat's first; openRegular is what guards the race after
  // that check, so it must not hang on a FIFO that has no writer.
  const dir = t.testdir({ target: 'x' })
  execFileSync('mkfifo', [join(dir, 'fifo')])
  symlinkSync(join(dir, 'target'), join(dir, 'link'))
  mkdirSync(join(dir, 'dir'))
  t.same(openRegular(join(dir, 'fifo')), { kind: 'not-regular', what: 'a FIFO' })
  t.same(openRegular(join(dir, 'link')), { kind: 'not-regular', what: 'a symbolic link' }, 'O_NOFOLLOW')
  t.same(openRegular(join(dir, 'dir')), { kind: 'not-regular', what: 'a directory' })
  const ok = openRegular(join(dir, 'target'))
  t.ok('fd' in ok, 'a regular file opens')
  if ('fd' in ok) t.equal(fstatSync(ok.fd).size, 1, 'its descriptor, open on it')
  if ('fd' in ok) closeSync(ok.fd)
})

t.test('a file under an exclusive flock is read without the lock after the timeout', async (t) => {
  const path = join(t.testdir({ f: 'locked content\n' }), 'f')
  const release = await holdExclusiveLock(t, path, 5)
  const r = asRead(t, await read(path, 300))
  t.same(r.lock, { locked: false, code: 'EWOULDBLOCK' })
  t.equal(r.sha256, sha256(Buffer.from('locked content\n')), 'read all the same')
  release()
})

t.test('a lock released while waiting is taken', async (t) => {
  const path = join(t.testdir({ f: 'briefly locked\n' }), 'f')
  await holdExclusiveLock(t, path, 0.4)
  const r = asRead(t, await read(path, 10_000))
  t.same(r.lock, { locked: true, waited: true })
})

t.test('an unreadable file is "failed" with its errno', async (t) => {
  // As root nothing is unreadable by mode (the bin test reads a 0600 file as
  // nobody). /proc/self/mem is a regular file whose read at offset 0 fails
  // with EIO: a real I/O error from read().
  const outcome = await readContent('/proc/self/mem', { lockTimeoutMs: 0, buffer: Buffer.alloc(4096) })
  t.same(outcome, { kind: 'failed', step: 'read', code: 'EIO' })
})
