import t from 'tap'
import { ALL_DATA, parseDataSample } from '../../src/audit/data-sample.js'

const keys = Array.from({ length: 2000 }, (_, i) => `content/${i.toString(16).padStart(64, '0')}`)

t.test('N/M: the M parts split the keys, each key in exactly one, about evenly', async (t) => {
  const parts = [1, 2, 3, 4, 5].map((n) => parseDataSample(`${n}/5`))
  for (const key of keys) t.equal(parts.filter((p) => p.includes(key)).length, 1)
  for (const p of parts) {
    const n = keys.filter((k) => p.includes(k)).length
    t.ok(n > 300 && n < 500, `${p.text}: ${n} of 2000`)
  }
})

t.test('N%: about that share; the same with the same seed, another with another', async (t) => {
  const a = keys.filter((k) => parseDataSample('10%', 'one').includes(k))
  t.ok(a.length > 140 && a.length < 260, `${a.length} of 2000`)
  t.same(keys.filter((k) => parseDataSample('10%', 'one').includes(k)), a)
  t.not(keys.filter((k) => parseDataSample('10%', 'two').includes(k)).join(), a.join())
  t.equal(keys.filter((k) => parseDataSample('100%').includes(k)).length, 2000)
  t.ok(keys.every((k) => ALL_DATA.includes(k)))
})

t.test('what is not a sample', async (t) => {
  for (const [text, message] of [
    ['0%', 'option --read-data-subset: "0%" is not a share from 0% (excluded) to 100%'],
    ['101%', 'option --read-data-subset: "101%" is not a share from 0% (excluded) to 100%'],
    ['0/3', 'option --read-data-subset: "0/3": N/M needs 1 <= N <= M'],
    ['3/0', 'option --read-data-subset: "3/0": N/M needs 1 <= N <= M'],
    ['1/', 'option --read-data-subset: "1/" is neither N% (e.g. 10%) nor N/M (e.g. 1/5)'],
  ] as const) t.throws(() => parseDataSample(text), { message, exitStatus: 2 })
})
