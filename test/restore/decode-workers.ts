import t from 'tap'
import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { DecodeWorkers } from '../../src/restore/decode-workers.js'
import { tempNameFor } from '../../src/restore/file-writer.js'
import { TargetDirs } from '../../src/restore/target-dirs.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

const PLAIN = { uid: 0, gid: 0, mode: 0o644 }

t.test('many files at once over two workers, each decoded, hashed and made whole', async (t) => {
  // Each body is a copy: a body with memory of its own is moved to the worker (see below).
  const dir = t.testdir({})
  const target = await TargetDirs.open(dir)
  t.teardown(() => target.close())
  const workers = new DecodeWorkers(2)
  t.teardown(() => workers.close())
  const contents = Array.from({ length: 40 }, (_, i) => Buffer.from(`file ${i}\n`.repeat(100 * (i + 1))))
  const answers = await Promise.all(contents.map((c, i) => workers.writeFile(target.rootDir, Buffer.from(`f${i}`), i % 2 ? gzipSync(c) : Buffer.from(c), i % 2 === 1, 1 << 22, { sha256: sha(c), size: c.length }, PLAIN)))
  answers.forEach((a, i) => t.match(a, { bytes: contents[i]!.length, sha256: sha(contents[i]!), written: { owner: 'set' } }))
  contents.forEach((c, i) => t.ok(readFileSync(join(dir, `f${i}`)).equals(c), `f${i} holds its content`))
})

t.test('once closed, nothing more is taken', async (t) => {
  const dir = t.testdir({})
  const target = await TargetDirs.open(dir)
  t.teardown(() => target.close())
  const workers = new DecodeWorkers(1)
  await workers.close()
  await t.rejects(workers.writeFile(target.rootDir, Buffer.from('x'), Buffer.from('x'), false, 10, { sha256: sha(Buffer.from('x')), size: 1 }, PLAIN), /closed/)
  t.same(readdirSync(dir), [], 'nothing made')
})

t.test('a body that is the whole of its memory is moved to the worker; a slice of a larger one is copied', async (t) => {
  const dir = t.testdir({})
  const target = await TargetDirs.open(dir)
  t.teardown(() => target.close())
  const workers = new DecodeWorkers(1)
  t.teardown(() => workers.close())
  const own = Buffer.from(new ArrayBuffer(8192)).fill('a')
  const a = Buffer.alloc(8192, 'a')
  t.match(await workers.writeFile(target.rootDir, Buffer.from('own'), own, false, 1 << 20, { sha256: sha(a), size: a.length }, PLAIN), { bytes: 8192, written: {} })
  t.equal(own.buffer.byteLength, 0, 'moved: detached here')
  const larger = Buffer.alloc(8192, 'b')
  const slice = larger.subarray(0, 4096)
  const b = Buffer.alloc(4096, 'b')
  t.match(await workers.writeFile(target.rootDir, Buffer.from('slice'), slice, false, 1 << 20, { sha256: sha(b), size: b.length }, PLAIN), { bytes: 4096, written: {} })
  t.equal(larger.length, 8192, 'copied: the larger buffer is intact')
  t.equal(larger.toString('latin1', 8000, 8001), 'b')
  t.ok(readFileSync(join(dir, 'own')).equals(a) && readFileSync(join(dir, 'slice')).equals(b), 'both files hold their content')
})

t.test('writeFile: a whole file made in the worker, with owner, mode and times, under a temporary name first', async (t) => {
  const dir = t.testdir({ sub: {} })
  const target = await TargetDirs.open(dir)
  t.teardown(() => target.close())
  const workers = new DecodeWorkers(1)
  t.teardown(() => workers.close())
  const content = Buffer.from('a file restored in a worker\n'.repeat(500))
  const owner = { uid: 1234, gid: 5678, mode: 0o4750, times: { atimeNs: 1_700_000_000_000_000_000n, mtimeNs: 1_600_000_000_000_000_000n } }
  const answer = await workers.writeFile(target.rootDir, Buffer.from('made'), gzipSync(content), true, 1 << 20, { sha256: sha(content), size: content.length }, owner)
  const st = lstatSync(join(dir, 'made'), { bigint: true })
  t.same(answer, { bytes: content.length, sha256: sha(content), written: { owner: 'set', timesSet: true, st: { dev: st.dev, ino: st.ino, size: st.size } } })
  t.ok(readFileSync(join(dir, 'made')).equals(content), 'its content, decoded')
  t.same([st.uid, st.gid, Number(st.mode & 0o7777n), st.mtimeNs, st.atimeNs], [1234n, 5678n, 0o4750, 1_600_000_000_000_000_000n, 1_700_000_000_000_000_000n],
    'owner, group, mode (setuid kept after the chown) and times')
  t.same(readdirSync(dir).sort(), ['made', 'sub'], 'no temporary file left')

  const below = await workers.writeFile(target.rootDir, Buffer.from('fraction'), Buffer.from(content), false, 1 << 20, { sha256: sha(content), size: undefined },
    { uid: 0, gid: 0, mode: 0o644, times: { atimeNs: 1_700_000_000_000_000_000n, mtimeNs: 1_600_000_000_000_000_001n } })
  t.equal(below.written?.timesSet, false, 'times below the second are left to the caller (the helper sets them by path)')
})

t.test('writeFile: content that is not what was expected writes nothing; a leftover temporary name is replaced; errors keep their codes', async (t) => {
  const dir = t.testdir({ there: 'what was there before\n', 'a-dir': {}, elsewhere: 'not to be touched\n' })
  const target = await TargetDirs.open(dir)
  t.teardown(() => target.close())
  const workers = new DecodeWorkers(1)
  t.teardown(() => workers.close())
  const owner = { uid: 0, gid: 0, mode: 0o644 }
  const content = Buffer.from('the content\n')
  const wrongHash = await workers.writeFile(target.rootDir, Buffer.from('there'), Buffer.from('other bytes\n'), false, 1000, { sha256: sha(content), size: undefined }, owner)
  t.same(wrongHash, { bytes: 12, sha256: sha(Buffer.from('other bytes\n')), written: null }, 'another hash: not written')
  const wrongSize = await workers.writeFile(target.rootDir, Buffer.from('there'), Buffer.from(content), false, 1000, { sha256: sha(content), size: 99 }, owner)
  t.equal(wrongSize.written, null, 'another size than expected: not written')
  t.equal(readFileSync(join(dir, 'there'), 'utf8'), 'what was there before\n', 'what was there is untouched')

  // A symlink planted at the temporary name is removed, never followed.
  symlinkSync(join(dir, 'elsewhere'), join(dir, tempNameFor(Buffer.from('there')).toString()))
  const replaced = await workers.writeFile(target.rootDir, Buffer.from('there'), Buffer.from(content), false, 1000, { sha256: sha(content), size: content.length }, owner)
  t.not(replaced.written, null)
  t.equal(readFileSync(join(dir, 'there'), 'utf8'), 'the content\n', 'replaced, atomically, by rename')
  t.equal(readFileSync(join(dir, 'elsewhere'), 'utf8'), 'not to be touched\n', 'the symlink\'s target is untouched')

  await t.rejects(workers.writeFile(target.rootDir, Buffer.from('a-dir'), Buffer.from(content), false, 1000, { sha256: sha(content), size: undefined }, owner),
    { code: 'EISDIR', syscall: 'rename' }, 'a directory in the way')
  await t.rejects(workers.writeFile(target.rootDir, Buffer.from('x'), Buffer.from('not gzip'), true, 1000, { sha256: sha(content), size: undefined }, owner),
    { code: 'Z_DATA_ERROR' })
  await t.rejects(workers.writeFile(target.rootDir, Buffer.from('x'), gzipSync(Buffer.alloc(100_000)), true, 1000, { sha256: sha(content), size: undefined }, owner),
    { code: 'ERR_BUFFER_TOO_LARGE' }, 'more than maxOutput decoded')
  // The worker goes on after errors.
  t.not((await workers.writeFile(target.rootDir, Buffer.from('after'), Buffer.from(content), false, 1000, { sha256: sha(content), size: undefined }, owner)).written, null)
  rmSync(join(dir, 'after'))
  t.same(readdirSync(dir).sort(), ['a-dir', 'elsewhere', 'there'], 'no temporary file left by any of them')
})
