import t from 'tap'
import { parseStart, parseWindow, renderService, renderTimer, unitBaseName } from '../../src/setup/systemd-units.js'
import { verifyUnits } from '../../src/setup/verify-units.js'

const settings = {
  packageName: 's3-sysbackup', exec: `${process.execPath} /opt/s3-sysbackup/bin/s3-sysbackup.js`, user: 'backup',
  configDir: '/etc/backup', stateDir: '/var/cache/s3-sysbackup', start: '01:00:00', window: '4h',
}

t.test('start times and windows are checked before they reach a unit', async (t) => {
  t.equal(parseStart('1:05'), '01:05:00')
  t.equal(parseStart('23:59:59'), '23:59:59')
  for (const bad of ['24:00', '12:60', 'noon', '1:2', '12:00:60', '']) t.throws(() => parseStart(bad), /is not a time of day/, bad)
  for (const good of ['4h', '90min', '1h 30min', '5400', '2.5h', '30 s', '1d']) t.equal(parseWindow(good), good.trim(), good)
  for (const bad of ['soon', '4 hours and more', 'h', '-1h', '4hh', '']) t.throws(() => parseWindow(bad), /is not a time span/, bad)
})

t.test('unit names: plain for the default package, suffixed for others', async (t) => {
  t.equal(unitBaseName('s3-sysbackup'), 's3-sysbackup')
  t.equal(unitBaseName('offsite'), 's3-sysbackup-offsite')
})

t.test('systemd-analyze verify accepts the units as rendered', async (t) => {
  const units = [{ name: 's3-sysbackup.service', content: renderService(settings) }, { name: 's3-sysbackup.timer', content: renderTimer(settings) }]
  // ExecStart must exist: point it at this very node.
  units[0]!.content = units[0]!.content.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} --version`)
  t.same(await verifyUnits(units, process.env), { kind: 'ok' })
})

t.test('a warning about one of the units counts as a rejection; missing systemd-analyze is reported', async (t) => {
  const service = renderService(settings).replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} --version\nNoSuchSetting=1`)
  const outcome = await verifyUnits([{ name: 'x.service', content: service }], process.env)
  t.equal(outcome.kind, 'rejected')
  t.match(outcome.kind === 'rejected' ? outcome.messages[0] : '', /^x\.service:\d+: Unknown key.*NoSuchSetting/)
  t.same(await verifyUnits([{ name: 'x.service', content: service }], { PATH: '/nonexistent' }), { kind: 'unavailable' })
})
