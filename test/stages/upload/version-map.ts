import t from 'tap'
import { createHash } from 'node:crypto'
import { LineTable } from '../../../src/util/line-table.js'
import { UsedVersions, VersionMap, versionLinesOf } from '../../../src/stages/upload/version-map.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const T = 1_800_000_000_000

/** A VersionMap over `v` lines for these hashes, each retained until T + n. */
function loaded(entries: [string, number, string][]): VersionMap {
  const text = 'head\n' + entries.map(([s, n, id]) => `v ${sha(s)} ${T + n} ${id}\n`).join('')
  const starts: number[] = []
  const ends: number[] = []
  let at = 5
  for (const line of text.slice(5).split('\n').slice(0, -1)) {
    starts.push(at)
    ends.push(at + line.length)
    at += line.length + 1
  }
  return new VersionMap(new LineTable(Buffer.from(text, 'latin1'), starts, ends, () => [2, 66]))
}

t.test('loaded versions read as KnownVersions; learned ones replace them; deleted ones are gone', async (t) => {
  const map = loaded([['a', 1, 'va'], ['b', 2, 'vb with.dots_1'], ['c', 1, 'vc']])
  t.equal(map.size, 3)
  t.same(map.get(sha('b')), { versionId: 'vb with.dots_1', retainUntil: new Date(T + 2) })
  t.equal(map.get(sha('a'))!.retainUntil, map.get(sha('c'))!.retainUntil, 'one Date per time')
  t.equal(map.get(sha('x')), undefined)
  t.notOk(map.has(sha('x')))

  map.set(sha('a'), { versionId: 'va2', retainUntil: new Date(T + 9) })
  t.same(map.get(sha('a')), { versionId: 'va2', retainUntil: new Date(T + 9) })
  t.equal(map.size, 3, 'replacing is not adding')
  map.set(sha('d'), { versionId: 'vd', retainUntil: null })
  t.equal(map.size, 4)
  t.ok(map.delete(sha('c')))
  t.notOk(map.delete(sha('c')), 'once')
  t.notOk(map.has(sha('c')))
  t.equal(map.size, 3)
  t.ok(map.delete(sha('a')), 'a replaced loaded version is deleted too')
  t.equal(map.get(sha('a')), undefined)
  t.same([...map.keys()], [sha('b'), sha('d')], 'loaded ones in file order, then learned ones')
  t.same([...map].map(([s, k]) => [s, k.versionId]), [[sha('b'), 'vb with.dots_1'], [sha('d'), 'vd']])
  t.equal(map.size, 2)
})

t.test('hashes used: loaded or not', async (t) => {
  const map = loaded([['a', 1, 'va'], ['b', 1, 'vb']])
  map.markUsed(sha('a'))
  map.markUsed(sha('new'))
  t.ok(map.isUsed(sha('a')))
  t.notOk(map.isUsed(sha('b')))
  t.ok(map.isUsed(sha('new')))
  map.set(sha('a'), { versionId: 'va2', retainUntil: null })
  t.ok(map.isUsed(sha('a')), 'still used once replaced')
})

t.test('use: get, and the hash noted as used', async (t) => {
  const map = loaded([['a', 1, 'va'], ['b', 1, 'vb'], ['c', 1, 'vc']])
  map.set(sha('b'), { versionId: 'vb2', retainUntil: null })
  map.delete(sha('c'))
  t.same(map.use(sha('a')), { versionId: 'va', retainUntil: new Date(T + 1) })
  t.same(map.use(sha('b')), { versionId: 'vb2', retainUntil: null }, 'the learned version over the loaded line')
  t.equal(map.use(sha('c')), undefined, 'a deleted one is gone')
  t.equal(map.use(sha('x')), undefined)
  for (const s of ['a', 'b', 'c', 'x']) t.ok(map.isUsed(sha(s)), `${s} used`)
  t.notOk(new VersionMap().isUsed(sha('a')))
})

t.test('VersionMap.of: no loaded lines', async (t) => {
  const map = VersionMap.of([[sha('a'), { versionId: 'va', retainUntil: null }]])
  t.equal(map.size, 1)
  t.same([...map.keys()], [sha('a')])
})

t.test('UsedVersions: a view of the versions the run used, as it is when read', async (t) => {
  const map = loaded([['a', 1, 'va'], ['b', 5, 'vb'], ['c', 5, 'vc']])
  const view = new UsedVersions(map)
  map.markUsed(sha('b'))
  t.equal(view.size, 1)
  t.same([...view.keys()], [sha('b')])
  t.equal(view.get(sha('a')), undefined)
  t.ok(view.has(sha('b')))
  map.set(sha('d'), { versionId: 'vd', retainUntil: new Date(T + 3) })
  map.markUsed(sha('d'))
  map.set(sha('e'), { versionId: 've', retainUntil: new Date(T + 3) })
  t.same([...view.values()].map((k) => k.versionId), ['vb', 'vd'])
  const seen: string[] = []
  view.forEach((_k, s) => seen.push(s))
  t.same(seen, [sha('b'), sha('d')])
})

t.test('versionLines: loaded lines as read, learned versions formatted, only those with a retention', async (t) => {
  const map = loaded([['a', 1, 'va'], ['b', 5, 'v b'], ['c', 7, 'vc']])
  map.set(sha('c'), { versionId: 'vc2', retainUntil: new Date(T + 8) })
  map.set(sha('n'), { versionId: 'vn', retainUntil: null })
  map.set(sha('d'), { versionId: 'vd', retainUntil: new Date(T + 4) })
  const lines = (versions: ReadonlyMap<string, { versionId: string, retainUntil: Date | null }>) => [...versionLinesOf(versions)].map((l) => [l.sha256, l.line])
  t.same(lines(map), [
    [sha('a'), `v ${sha('a')} ${T + 1} va`],
    [sha('b'), `v ${sha('b')} ${T + 5} v b`],
    [sha('c'), `v ${sha('c')} ${T + 8} vc2`],
    [sha('d'), `v ${sha('d')} ${T + 4} vd`],
  ], 'a loaded line is given as it is, even one the cache would not write')
  map.markUsed(sha('b'))
  map.markUsed(sha('d'))
  map.markUsed(sha('n'))
  t.same(lines(new UsedVersions(map)), [
    [sha('b'), `v ${sha('b')} ${T + 5} v b`],
    [sha('d'), `v ${sha('d')} ${T + 4} vd`],
  ])
  t.same(lines(new Map([[sha('x'), { versionId: 'vx', retainUntil: new Date(T) }], [sha('y'), { versionId: 'vy', retainUntil: null }]])),
    [[sha('x'), `v ${sha('x')} ${T} vx`]], 'any map of versions')
})
