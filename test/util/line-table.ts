import t from 'tap'
import { LineTable } from '../../src/util/line-table.js'

/** A table of `lines` after a head line, keyed by the text before the first space. */
function table(lines: string[]): LineTable {
  const head = 'head line\n'
  const data = Buffer.from(head + lines.map((l) => l + '\n').join(''), 'latin1')
  const starts: number[] = []
  const ends: number[] = []
  let at = head.length
  for (const line of lines) {
    starts.push(at)
    ends.push(at + line.length)
    at += line.length + 1
  }
  return new LineTable(data, starts, ends, (length) => [0, length - 4])
}

t.test('finds a line by its key; reads its key, its text, parts of it', async (t) => {
  const lines = ['alpha 001', 'b 002', 'gamma-gamma 003']
  const tab = table(lines)
  t.equal(tab.size, 3)
  t.equal(tab.find('b'), 1)
  t.equal(tab.find('gamma-gamma'), 2)
  t.equal(tab.find('gamma'), -1, 'a prefix of a key is not the key')
  t.equal(tab.find('alpha 001'), -1, 'nor is the whole line')
  t.equal(tab.find(''), -1)
  t.equal(tab.line(2), 'gamma-gamma 003')
  t.equal(tab.key(0), 'alpha')
  t.equal(tab.text(0, -3, 0), '001')
  t.equal(tab.text(0, -3, -1), '00')
  t.equal(tab.text(0, 1, 3), 'lp')
  t.same([...tab.indexes()], [0, 1, 2], 'in file order')
})

t.test('many keys, all found, none invented (hash collisions and wrap-around of the probe)', async (t) => {
  const lines = Array.from({ length: 5000 }, (_, i) => `${(i * 7919).toString(36)}:${i} ${String(i % 1000).padStart(3, '0')}`)
  const tab = table(lines)
  t.equal(tab.size, 5000)
  let wrong = 0
  for (let i = 0; i < lines.length; i++) if (tab.find(lines[i]!.slice(0, -4)) !== i) wrong++
  t.equal(wrong, 0, 'every key finds its own line')
  let invented = 0
  for (let i = 5000; i < 10000; i++) if (tab.find(`${(i * 7919).toString(36)}:${i}`) !== -1) invented++
  t.equal(invented, 0, 'no absent key is found')
})

t.test('a repeated key: the last line wins, as in a Map, and the earlier one is left out', async (t) => {
  const tab = table(['k 001', 'other 002', 'k 003'])
  t.equal(tab.size, 2)
  t.equal(tab.lineCount, 3)
  t.equal(tab.find('k'), 2)
  t.same([...tab.indexes()], [1, 2])
})

t.test('lines need not be adjacent: a table of some of the lines', async (t) => {
  const data = Buffer.from('skip 000\nkeep 001\nskip2 002\nkept 003\n', 'latin1')
  const tab = new LineTable(data, [9, 28], [17, 36], (length) => [0, length - 4])
  t.equal(tab.find('keep'), 0)
  t.equal(tab.find('kept'), 1)
  t.equal(tab.find('skip'), -1)
  t.equal(tab.line(1), 'kept 003')
  t.equal(tab.text(0, -3, 0), '001')
})

t.test('an empty table finds nothing', async (t) => {
  const tab = table([])
  t.equal(tab.size, 0)
  t.equal(tab.find('x'), -1)
  t.same([...tab.indexes()], [])
})
