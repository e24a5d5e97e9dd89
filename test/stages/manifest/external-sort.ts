import t from 'tap'
import { existsSync, readdirSync } from 'node:fs'
import { compareItems, ExternalSorter, MAX_FAN_IN, type SortItem } from '../../../src/stages/manifest/external-sort.js'
import { SpillDir } from '../../../src/stages/manifest/spill-dir.js'

/** Deterministic pseudo-random paths, some repeated, some not UTF-8, some with newlines. */
function items(n: number): SortItem[] {
  let seed = 42
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
  const out: SortItem[] = []
  for (let i = 0; i < n; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + next() % 6 }, () => [0x2f, 0x61, 0x62, 0x0a, 0xc3, 0xff, 0xef][next() % 7]!))
    out.push({ key: bytes.toString('latin1'), input: next() % 3, line: i + 1, kind: i % 5 === 0 ? 'dir' : 'file', size: i, json: JSON.stringify({ n: i, tab: 'a\tb' }) })
  }
  return out
}

async function sortWith(memoryBytes: number, input: SortItem[], dirPath: string): Promise<{ out: SortItem[], runs: number, dir: SpillDir }> {
  const dir = new SpillDir(dirPath)
  const sorter = new ExternalSorter(dir, memoryBytes)
  // Two writers at once, as two inputs are read.
  const half = Math.ceil(input.length / 2)
  await Promise.all([input.slice(0, half), input.slice(half)].map(async (part) => { for (const item of part) await sorter.add(item) }))
  const out: SortItem[] = []
  for await (const item of sorter.sorted()) out.push(item)
  return { out, runs: sorter.runs, dir }
}

t.test('spilled runs merged (in rounds, beyond the fan-in) give exactly the in-memory order', async (t) => {
  const dirPath = t.testdir({})
  const input = items(5000)
  const expected = [...input].sort(compareItems)
  const inMemory = await sortWith(1e9, input, dirPath)
  t.equal(inMemory.runs, 0)
  t.notOk(inMemory.dir.used, 'nothing touched the disk')
  t.same(inMemory.out, expected)
  const spilled = await sortWith(2000, input, dirPath)
  t.ok(spilled.runs > 2 * MAX_FAN_IN, `${spilled.runs} runs, more than one merge can take at once`)
  t.same(spilled.out, expected, 'fields, tabs in JSON and all')
  t.ok(readdirSync(dirPath).length > 0)
  await spilled.dir.remove()
  t.same(readdirSync(dirPath), [], 'remove() leaves nothing behind')
  await spilled.dir.remove()
})

t.test('order: path bytes, then input, then line', async (t) => {
  const item = (path: string | Buffer, input: number, line: number): SortItem => ({ key: Buffer.from(path).toString('latin1'), input, line, kind: 'file', size: 0, json: '{}' })
  const sorted = [item('/b', 0, 1), item('/a', 1, 2), item('/a', 0, 9), item('/\u{1F600}', 0, 3), item('/\uFFFD', 0, 4), item('/a', 1, 1)].sort(compareItems)
  t.same(sorted.map((i) => [Buffer.from(i.key, 'latin1').toString(), i.input, i.line]), [
    ['/a', 0, 9], ['/a', 1, 1], ['/a', 1, 2], ['/b', 0, 1], ['/\uFFFD', 0, 4], ['/\u{1F600}', 0, 3],
  ])
})

t.test('a spill directory that cannot be made is a fatal error naming it', async (t) => {
  const dir = new SpillDir('/nonexistent/tmp')
  await t.rejects(dir.file('run'), { message: '/nonexistent/tmp: cannot make a directory for spill files: no such file or directory (see --tmp-dir)', exitStatus: 3 })
  t.notOk(existsSync('/nonexistent/tmp'))
  await dir.remove()
})

t.test('an item weighs one byte per path byte: 1,000 of them fit the memory their paths, lines and objects take', async (t) => {
  const input: SortItem[] = []
  for (let i = 0; i < 1000; i++) {
    const path = Buffer.from(`/var/lib/dpkg/info/package-${String(i).padStart(4, '0')}.\xe9\n.list`, 'latin1')
    input.push({ key: path.toString('latin1'), input: 0, line: i + 1, kind: 'file', size: 0, json: '{"type":"file"}' })
  }
  const needed = input.reduce((sum, item) => sum + Buffer.from(item.key, 'latin1').length + item.json.length + 80, 0)
  const { runs } = await sortWith(needed + 1, input, t.testdir({}))
  t.equal(runs, 0, 'no run written')
})
