import t from 'tap'
import { formatDuration, parseDuration } from '../../src/audit/duration.js'

t.test('durations a monitoring check would give', async (t) => {
  t.equal(parseDuration('26h', '--max-age'), 26 * 3600_000)
  t.equal(parseDuration('90m', '--max-age'), 90 * 60_000)
  t.equal(parseDuration('1.5d', '--max-age'), 36 * 3600_000)
  t.equal(parseDuration('1w', '--max-age'), 7 * 86_400_000)
  t.equal(parseDuration('45s', '--max-age'), 45_000)
  for (const bad of ['', '26', 'h', '26 hours', '-1h', '0h', '1y', '1h30m']) {
    t.throws(() => parseDuration(bad, '--max-age'), { message: `option --max-age: "${bad}" is not a duration (a number and a unit s, m, h, d or w, e.g. 26h)`, exitStatus: 2 }, bad)
  }
})

t.test('ages as a person reads them', async (t) => {
  t.equal(formatDuration(26 * 3600_000), '1d 2h')
  t.equal(formatDuration(72 * 3600_000 + 5 * 60_000), '3d')
  t.equal(formatDuration(90 * 60_000), '1h 30m')
  t.equal(formatDuration(30_000), '30s')
})
