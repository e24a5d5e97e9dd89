import t from 'tap'
import { thousands } from '../../src/util/thousands.js'

t.test('groups digits in threes as toLocaleString("en-US") does', async (t) => {
  for (const n of [0, 7, 999, 1000, 21_409, 100_000, 999_999, 1_234_567, 20_002_345, -1, -1234, -999_999, Number.MAX_SAFE_INTEGER]) {
    t.equal(thousands(n), n.toLocaleString('en-US'), String(n))
  }
  t.equal(thousands(1.5), '1.5', 'a fraction is left as it is')
})
