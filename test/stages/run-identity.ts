import t from 'tap'
import { hostname } from 'node:os'
import { parseArgs } from '../../src/cli/args.js'
import { UsageError } from '../../src/cli/errors.js'
import { parseConf, type LoadedConfig } from '../../src/config/load-config.js'
import { headerFieldsOf, keyTimestamp, parseTime, RUN_OPTIONS, runIdentity } from '../../src/stages/run-identity.js'

const config = (text = ''): LoadedConfig => ({ dir: '/', file: 'conf', values: parseConf(text, 'conf', '/') })
const args = (...argv: string[]) => parseArgs(RUN_OPTIONS, argv)
const NOW = new Date('2026-11-26T08:00:00.123Z')

t.test('defaults: this host, now, R = T0 + days_retained days, the configured lock mode', async (t) => {
  const run = runIdentity(args(), config('[content]\ndays_retained = 30\nlock_mode = COMPLIANCE\n'), NOW)
  t.same(run, {
    host: hostname(), runTime: NOW, stamp: '20261126T080000Z', retainUntil: new Date('2026-12-26T08:00:00.123Z'),
    lockMode: 'COMPLIANCE', daysRetained: 30,
  })
  t.same(headerFieldsOf(run), { host: hostname(), runTime: '2026-11-26T08:00:00.123Z', retainUntil: '2026-12-26T08:00:00.123Z' })
})

t.test('[archive] host names the host when --host does not', async (t) => {
  t.equal(runIdentity(args(), config('[archive]\nhost = pinned-1\n'), NOW).host, 'pinned-1')
  t.equal(runIdentity(args('--host', 'flag-1'), config('[archive]\nhost = pinned-1\n'), NOW).host, 'flag-1')
})

t.test('the run time in ISO-8601 with a zone or in the key form; R given', async (t) => {
  const run = runIdentity(args('--host', 'web-1.example', '--run-time', '20261126T090000Z', '--retain-until', '2026-12-01T00:00:00+01:00'), config(), NOW)
  t.equal(run.host, 'web-1.example')
  t.equal(run.runTime.toISOString(), '2026-11-26T09:00:00.000Z')
  t.equal(run.retainUntil.toISOString(), '2026-11-30T23:00:00.000Z')
  t.equal(parseTime('2026-11-26T09:30+02:00', '--run-time').toISOString(), '2026-11-26T07:30:00.000Z')
  t.equal(keyTimestamp(new Date('2026-01-02T03:04:05.999Z')), '20260102T030405Z')
})

t.test('refused: a time without a zone, nonsense, a bad host, R not after T0', async (t) => {
  for (const [argv, message] of [
    [['--run-time', '2026-11-26T08:00:00'], '--run-time: "2026-11-26T08:00:00" is not an ISO-8601 time with a zone (e.g. 2026-11-26T08:00:00Z or 20261126T080000Z)'],
    [['--run-time', '20261340T000000Z'], /^--run-time: "20261340T000000Z" is not an ISO-8601 time/],
    [['--retain-until', 'tomorrow'], /^--retain-until: "tomorrow" is not/],
    [['--host', 'two words'], /^--host: "two words" cannot name a host in the store/],
    [['--run-time', '2026-11-26T08:00:00Z', '--retain-until', '2026-11-26T08:00:00Z'], '--retain-until: 2026-11-26T08:00:00.000Z is not after the run time 2026-11-26T08:00:00.000Z and now'],
    [['--run-time', '2026-11-01T08:00:00Z', '--retain-until', '2026-11-20T08:00:00Z'], /^--retain-until: 2026-11-20T08:00:00.000Z is not after the run time .* and now/],
  ] as const) {
    let thrown: unknown
    try {
      runIdentity(args(...argv), config(), NOW)
    } catch (err) {
      thrown = err
    }
    t.type(thrown, UsageError, argv.join(' '))
    t.match((thrown as Error).message, message)
  }
})
