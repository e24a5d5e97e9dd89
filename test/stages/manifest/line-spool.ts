import t from 'tap'
import { readdirSync } from 'node:fs'
import { LineSpool } from '../../../src/stages/manifest/line-spool.js'
import { SpillDir } from '../../../src/stages/manifest/spill-dir.js'

t.test('lines come back in order, from memory or from the spill file', async (t) => {
  const parent = t.testdir({})
  const dir = new SpillDir(parent)
  const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i, text: 'é'.repeat(i % 50) }))
  const small = new LineSpool(dir, 'small')
  for (const line of lines.slice(0, 10)) await small.add(line)
  const spilled = new LineSpool(dir, 'spilled', 500)
  for (const line of lines) await spilled.add(line)
  t.notOk(readdirSync(parent).length === 0, 'the big one went to disk')
  const read = async (spool: LineSpool) => { const out: string[] = []; for await (const l of spool.lines()) out.push(l); return out }
  t.same(await read(small), lines.slice(0, 10))
  t.same(await read(spilled), lines)
  t.equal(spilled.count, 1000)
  await dir.remove()
  t.same(readdirSync(parent), [])
})
