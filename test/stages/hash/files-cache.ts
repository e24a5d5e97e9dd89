import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FILES_CACHE_FORMAT, FilesCache } from '../../../src/stages/hash/files-cache.js'

const A = { key: '2049:11 120 1700000000000000000 1700000000000000001', sha256: 'a'.repeat(64), gzip: true }
const B = { key: '2049:12 0 1700000000000000000 1700000000000000002', sha256: 'b'.repeat(64), gzip: false }

/** Writes `lines` as a cache file with its closing line, as save() frames it (or with another `count`). */
function writeChecksummed(file: string, lines: string[], count = lines.length): void {
  const head = `${FILES_CACHE_FORMAT}\n${lines.map((l) => `${l}\n`).join('')}`
  writeFileSync(file, `${head}end ${count} ${createHash('sha256').update(head).digest('hex')}\n`)
}

/** A cache file in `dir` holding `entries`. */
async function saved(dir: string, entries = [A, B]): Promise<string> {
  const file = join(dir, 'files-cache')
  const cache = FilesCache.empty()
  for (const e of entries) cache.remember(e.key, e)
  if (await cache.save(file, false) !== entries.length) throw new Error('save miscounted')
  return file
}

t.test('round trip: saved entries load and look up', async (t) => {
  const file = await saved(t.testdir({}))
  const text = readFileSync(file, 'latin1')
  t.ok(text.startsWith(FILES_CACHE_FORMAT + '\n'), 'format line first')
  t.match(text, /\nend 2 [0-9a-f]{64}\n$/, 'closing line with count and checksum')
  t.equal(statSync(file).mode & 0o777, 0o600, 'private file')
  const { cache, problem } = await FilesCache.load(file)
  t.equal(problem, undefined)
  t.equal(cache.loadedEntries, 2)
  t.same(cache.lookup(A.key), { sha256: A.sha256, gzip: true })
  t.same(cache.lookup(B.key), { sha256: B.sha256, gzip: false })
  t.equal(cache.lookup('2049:13 120 1700000000000000000 1700000000000000001'), undefined)
})

t.test('an empty cache round-trips', async (t) => {
  const file = await saved(t.testdir({}), [])
  const { cache, problem } = await FilesCache.load(file)
  t.equal(problem, undefined)
  t.equal(cache.loadedEntries, 0)
})

t.test('a missing file or state directory is an empty cache without a problem', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' })
  for (const file of [join(dir, 'files-cache'), join(dir, 'missing', 'files-cache'), join(dir, 'a-file', 'files-cache')]) {
    const { cache, problem } = await FilesCache.load(file)
    t.equal(problem, undefined, file)
    t.equal(cache.loadedEntries, 0)
  }
})

t.test('save keeps only this run\'s entries (hits and new reads) unless told to keep the previous ones', async (t) => {
  const dir = t.testdir({})
  const file = await saved(dir)
  const C = { key: '2049:14 5 1 2', sha256: 'c'.repeat(64), gzip: false }
  const first = (await FilesCache.load(file)).cache
  first.lookup(A.key) // still there: a hit
  first.remember(C.key, C) // newly read
  t.equal(await first.save(file, false), 2)
  const second = (await FilesCache.load(file)).cache
  t.ok(second.lookup(A.key))
  t.ok(second.lookup(C.key))
  t.equal(second.lookup(B.key), undefined, 'B was neither hit nor read: its file is gone')

  const third = (await FilesCache.load(file)).cache
  third.remember(B.key, B)
  third.remember(A.key, { sha256: 'd'.repeat(64), gzip: true }) // read again: changed
  t.equal(await third.save(file, true), 3, 'a cut-off run keeps what it did not reach')
  const fourth = (await FilesCache.load(file)).cache
  t.equal(fourth.loadedEntries, 3)
  t.same(fourth.lookup(A.key), { sha256: 'd'.repeat(64), gzip: true }, 'what this run read replaces what the previous run saved')
  t.same(fourth.lookup(C.key), { sha256: C.sha256, gzip: false }, 'a previous entry this run did not reach is kept')
  t.same(readdirSync(dir), ['files-cache'], 'no temporary files left')
})

t.test('a cache that would be saved as the bytes it was loaded from is not written again; any difference is', async (t) => {
  const dir = t.testdir({})
  const file = await saved(dir)
  const inode = () => statSync(file).ino // a save renames a new file into place
  const before = inode()
  const all = (await FilesCache.load(file)).cache
  all.lookup(B.key)
  all.lookup(A.key)
  t.equal(await all.save(file, false), 2, 'its entries counted')
  t.equal(inode(), before, 'every entry found again, none read: not rewritten')
  const partial = (await FilesCache.load(file)).cache
  partial.lookup(A.key)
  t.equal(await partial.save(file, true), 2)
  t.equal(inode(), before, 'a cut-off run keeping the previous entries, none read: not rewritten')
  t.equal(await partial.save(join(dir, 'elsewhere'), true), 2)
  t.same((await FilesCache.load(join(dir, 'elsewhere'))).cache.loadedEntries, 2, 'saved to another file: written')

  t.equal(await partial.save(file, false), 1)
  t.not(inode(), before, 'an entry not found: rewritten without it')
  const same = (await FilesCache.load(file)).cache
  same.lookup(A.key)
  same.remember(A.key, A)
  const kept = inode()
  await same.save(file, false)
  t.equal(inode(), kept, 'an entry read again, to the same content: the same bytes, not rewritten')
  const again = (await FilesCache.load(file)).cache
  again.lookup(A.key)
  again.remember(A.key, { ...A, sha256: 'f'.repeat(64) })
  await again.save(file, false)
  t.not(inode(), kept, 'an entry read again, to other content: rewritten')
  t.same((await FilesCache.load(file)).cache.lookup(A.key), { sha256: 'f'.repeat(64), gzip: true })

  const twice = join(dir, 'twice')
  writeChecksummed(twice, [`${A.key} ${A.sha256} 1`, `${A.key} ${'e'.repeat(64)} 1`])
  const dup = (await FilesCache.load(twice)).cache
  t.same(dup.lookup(A.key), { sha256: 'e'.repeat(64), gzip: true }, 'the later of two lines for a key holds')
  const dupInode = statSync(twice).ino
  t.equal(await dup.save(twice, false), 1)
  t.not(statSync(twice).ino, dupInode, 'a file with a superseded line: rewritten without it')
})

t.test('save creates the state directory, private', async (t) => {
  const dir = join(t.testdir({}), 'var', 'cache', 'sysbackup')
  await saved(dir)
  t.equal(statSync(dir).mode & 0o777, 0o700)
})

t.test('a damaged or foreign file is ignored with a problem, never trusted', async (t) => {
  const dir = t.testdir({})
  const file = await saved(dir)
  const good = readFileSync(file)
  const flipped = Buffer.from(good)
  const at = good.indexOf(A.sha256)
  flipped[at + 10] = 'b'.charCodeAt(0) // one hash digit: still a well-formed line
  const variants: [string, Buffer | string, RegExp][] = [
    ['truncated in the middle', good.subarray(0, good.length - 80), /is truncated/],
    ['truncated at a line end', good.subarray(0, good.indexOf('\nend ') + 1), /is truncated/],
    ['one digit changed', flipped, /is corrupted \(checksum mismatch\)/],
    ['foreign', '{"some": "json"}\n', /is not a files cache/],
    ['empty file', '', /is not a files cache/],
    ['a later format', 'sysbackup-hash files cache 2\nend 0 ' + '0'.repeat(64) + '\n', /is in a format this version does not read/],
  ]
  for (const [name, content, reason] of variants) {
    writeFileSync(file, content)
    const { cache, problem } = await FilesCache.load(file)
    t.match(problem, reason, name)
    t.match(problem, /it is ignored and every file is read/)
    t.equal(cache.loadedEntries, 0, `${name}: nothing loaded`)
    t.equal(cache.lookup(A.key), undefined)
  }
})

t.test('a well-checksummed file with a malformed line or wrong count is refused', async (t) => {
  const file = join(t.testdir({}), 'files-cache')
  writeChecksummed(file, [`${A.key} ${'A'.repeat(64)} 1`])
  t.match((await FilesCache.load(file)).problem, /malformed entry/)
  writeChecksummed(file, [`${A.key} ${A.sha256} 1`], 2)
  t.match((await FilesCache.load(file)).problem, /wrong entry count/)
  writeChecksummed(file, [`${A.key} ${A.sha256} 1`])
  t.equal((await FilesCache.load(file)).problem, undefined, 'the same, consistent, loads')
})

t.test('an unreadable cache file is a problem with its code', async (t) => {
  const dir = t.testdir({})
  mkdirSync(join(dir, 'files-cache'))
  const { problem, code } = await FilesCache.load(join(dir, 'files-cache'))
  t.equal(code, 'EISDIR')
  t.match(problem, /files cache cannot be read: EISDIR/)
})

t.test('save into a directory that cannot be written throws and leaves nothing', async (t) => {
  const dir = t.testdir({ 'not-a-dir': 'file' })
  await t.rejects(FilesCache.empty().save(join(dir, 'not-a-dir', 'files-cache'), false), { code: /^E[A-Z]+$/ }, 'a state dir path through a file')
  // Root ignores modes (the bin test proves EACCES as nobody); a rename over a directory fails for root too.
  mkdirSync(join(dir, 'target-is-dir', 'files-cache'), { recursive: true })
  await t.rejects(FilesCache.empty().save(join(dir, 'target-is-dir', 'files-cache'), false), { code: 'EISDIR' })
  t.same(readdirSync(join(dir, 'target-is-dir')), ['files-cache'], 'the temporary file was removed')
})
