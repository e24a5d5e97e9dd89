import t from 'tap'
import { SharedDates } from '../../src/util/shared-dates.js'

t.test('one Date per distinct time', async (t) => {
  const dates = new SharedDates()
  const a = dates.of(1_800_000_000_000)
  t.same(a, new Date(1_800_000_000_000))
  t.equal(dates.of(1_800_000_000_000), a, 'the same object again')
  t.not(dates.of(1_800_000_000_001), a)
  t.ok(Number.isNaN(dates.of(Number.NaN).getTime()), 'an invalid time is an invalid Date, as new Date gives')
})
