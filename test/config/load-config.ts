import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../../src/cli/errors.js'
import { loadConfig, parseConf } from '../../src/config/load-config.js'
import { DEFAULT_STATE_DIR } from '../../src/config/schema.js'

t.test('defaults, values and relative paths', async (t) => {
  const c = parseConf('[s3]\nbucket = my-bucket\n\n[content]\ndays_retained = 30\nlock_mode = compliance\n[state]\ndir = cache\n', '/etc/backup/conf', '/etc/backup')
  t.equal(c.s3.bucket, 'my-bucket')
  t.equal(c.content.days_retained, 30)
  t.equal(c.content.lock_mode, 'COMPLIANCE')
  t.equal(c.content.extend_days, 7)
  t.equal(c.cloudformation.export, 'backup-bucket')
  t.equal(c.state.dir, '/etc/backup/cache')
  t.equal(c.aws.profile, undefined)
  t.equal(parseConf('', 'x', '/').state.dir, DEFAULT_STATE_DIR)
})

const bad: [string, string, RegExp][] = [
  ['unknown section', '[s3]\nbucket = b\n[bogus]\nx = 1\n', /^conf:3: unknown section \[bogus\]/],
  ['unknown key', '[content]\n# note\nbukcet = b\n', /^conf:3: unknown setting "bukcet" in \[content\]/],
  ['bad number', '[content]\ndays_retained = fourteen\n', /^conf:2: \[content\] days_retained: "fourteen" is not a whole number/],
  ['below minimum', '[content]\ndays_retained = 0\n', /^conf:2: \[content\] days_retained: 0 is less than 1/],
  ['above maximum', '[content]\n\ngzip_level = 10\n', /^conf:3: \[content\] gzip_level: 10 is more than 9/],
  ['bad enum', '[content]\nlock_mode = sometimes\n', /^conf:2: \[content\] lock_mode: "sometimes" is not one of GOVERNANCE, COMPLIANCE/],
  ['bad bool', '[s3]\nforce_path_style = maybe\n', /^conf:2: \[s3\] force_path_style: "maybe" is not true or false/],
  ['outside section', 'bucket = b\n', /^conf:1: setting "bucket" is outside any \[section\]/],
]
for (const [name, text, pattern] of bad) {
  t.test(`rejects ${name}`, async (t) => {
    let caught: unknown
    try { parseConf(text, 'conf', '/') } catch (err) { caught = err }
    t.ok(caught instanceof ConfigError, 'a ConfigError')
    t.match((caught as Error).message, pattern)
  })
}

t.test('directory rules', async (t) => {
  const dir = t.testdir({ good: { conf: '[s3]\nbucket = b\n' }, empty: {} })
  t.equal(loadConfig(join(dir, 'good'), {}).values.s3.bucket, 'b')
  t.throws(() => loadConfig(join(dir, 'empty'), {}), /empty\/conf: missing configuration file/)
  t.throws(() => loadConfig(join(dir, 'absent'), {}), /absent\/conf: missing configuration file/)
  t.equal(loadConfig(undefined, { S3_SYSBACKUP_CONFIG: join(dir, 'good') }).values.s3.bucket, 'b')
  mkdirSync(join(dir, 'notdir'))
  writeFileSync(join(dir, 'file'), '')
  t.throws(() => loadConfig(join(dir, 'file'), {}), /is not a directory/)
})
