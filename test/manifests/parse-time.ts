import t from 'tap'
import { UsageError } from '../../src/cli/errors.js'
import { parseTimeOption } from '../../src/manifests/parse-time.js'

t.test('forms of --at', async (t) => {
  const cases: [string, string][] = [
    ['20261126T080000Z', '2026-11-26T08:00:00.000Z'],
    ['2026-11-26T08:00:00Z', '2026-11-26T08:00:00.000Z'],
    ['2026-11-26T08:00Z', '2026-11-26T08:00:00.000Z'],
    ['2026-11-26T08:00:00.5Z', '2026-11-26T08:00:00.500Z'],
    ['2026-11-26T09:00:00+01:00', '2026-11-26T08:00:00.000Z'],
    ['2026-11-26T09:00:00+0100', '2026-11-26T08:00:00.000Z'],
    ['2026-11-26', '2026-11-26T23:59:59.999Z'],
  ]
  for (const [text, iso] of cases) t.equal(parseTimeOption(text).toISOString(), iso, text)
})

t.test('anything else is a usage error naming the option', async (t) => {
  for (const text of ['yesterday', '2026-02-30', '2026-13-01', '26-11-26', '2026-11-26T25:00Z', '', '2026-11-26T08:00', '2026-11-26 08:00:30Z']) {
    let caught: unknown
    try { parseTimeOption(text) } catch (err) { caught = err }
    t.ok(caught instanceof UsageError, `${JSON.stringify(text)} is refused`)
  }
  t.throws(() => parseTimeOption('2026-11-26T08:00'), { message: '--at: "2026-11-26T08:00" is not an ISO-8601 time with a zone (e.g. 2026-11-26T08:00:00Z or 20261126T080000Z)' }, 'a time without a zone is refused')
  t.throws(() => parseTimeOption('2026-02-30'), { message: '--at: "2026-02-30" is not a date' })
})
