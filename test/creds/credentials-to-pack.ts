import t, { type Test } from 'tap'
import { join } from 'node:path'
import { refuseShortLived, resolveCredentialsToPack } from '../../src/creds/credentials-to-pack.js'

const ADMIN = { id: 'AKIAADMINEXAMPLE0001', secret: 'adminSecretKeyExampleExampleExample00001' }
const OTHER = { id: 'AKIAOTHEREXAMPLE0002', secret: 'otherSecretKeyExampleExampleExample00002' }
const BACKUP = { id: 'AKIABACKUPEXAMPLE003', secret: 'backupSecretKeyExampleExampleExample0003' }

const CREDENTIALS = `[default]
aws_access_key_id = ${OTHER.id}
aws_secret_access_key = ${OTHER.secret}

[admin]
aws_access_key_id = ${ADMIN.id}
aws_secret_access_key = ${ADMIN.secret}

[session]
aws_access_key_id = ASIATEMPORARYEXAMPLE
aws_secret_access_key = tempSecret
aws_session_token = FwoGZXIvYXdzEXAMPLE

[asia]
aws_access_key_id = ASIATEMPORARYEXAMPLE
aws_secret_access_key = tempSecret
`
const CONFIG = `[default]
region = us-west-2

[profile admin]
region = eu-west-3

[profile inconfig]
aws_access_key_id = ${BACKUP.id}
aws_secret_access_key = ${BACKUP.secret}
region = ap-south-1
`

/** One fixture directory per test (t.testdir() is per test): standard AWS files, a backup credentials file, and `extra`. */
function home(t: Test, extra: (dir: string) => Record<string, unknown> = () => ({})) {
  const dir = t.testdirName
  t.testdir({
    ...extra(dir),
    aws: { credentials: CREDENTIALS, config: CONFIG },
    backup: { 'backup-credentials': `[backup]\naws_access_key_id = ${BACKUP.id}\naws_secret_access_key = ${BACKUP.secret}\n[default]\naws_access_key_id = ${ADMIN.id}\naws_secret_access_key = ${ADMIN.secret}\n` },
  })
  const env = { HOME: dir, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws', 'credentials'), AWS_CONFIG_FILE: join(dir, 'aws', 'config') }
  return { dir, env }
}

t.test('--profile: a profile of the standard files (as AWS_SHARED_CREDENTIALS_FILE/AWS_CONFIG_FILE name them), with its region', async (t) => {
  const { env } = home(t)
  t.same(await resolveCredentialsToPack({ profile: 'admin', env }),
    { accessKeyId: ADMIN.id, secretAccessKey: ADMIN.secret, description: 'profile "admin"', region: 'eu-west-3' })
  t.same(await resolveCredentialsToPack({ profile: 'inconfig', env }),
    { accessKeyId: BACKUP.id, secretAccessKey: BACKUP.secret, description: 'profile "inconfig"', region: 'ap-south-1' }, 'keys in the config file')
  t.match(await resolveCredentialsToPack({ profile: 'admin', env: { ...env, AWS_REGION: 'ca-central-1' } }), { region: 'ca-central-1' }, 'AWS_REGION wins over the profile')
})

t.test('no option: the standard chain (here its shared-file step, default profile)', async (t) => {
  const { env } = home(t)
  t.same(await resolveCredentialsToPack({ env }),
    { accessKeyId: OTHER.id, secretAccessKey: OTHER.secret, description: 'the standard credential chain', region: 'us-west-2' })
})

t.test('--config DIR: [aws] credentials_file and profile, with the region and bucket of the configuration', async (t) => {
  const { dir, env } = home(t, (dir) => ({
    etc: { conf: `[aws]\ncredentials_file = ${join(dir, 'backup', 'backup-credentials')}\nprofile = backup\nregion = eu-north-1\nrole_arn = arn:aws:iam::123456789012:role/BackupRole\n\n[s3]\nbucket = site-backups\n` },
  }))
  const conf = join(dir, 'etc')
  t.same(await resolveCredentialsToPack({ configDir: conf, env }), {
    accessKeyId: BACKUP.id, secretAccessKey: BACKUP.secret, description: `profile "backup" of ${join(dir, 'backup', 'backup-credentials')}`,
    region: 'eu-north-1', bucket: 'site-backups',
  }, 'role_arn is not assumed: the long-lived key itself is packed')
  t.match(await resolveCredentialsToPack({ configDir: conf, profile: 'default', env }), { accessKeyId: ADMIN.id }, '--profile overrides the configuration\'s profile')
})

t.test('--config DIR: credentials_file without profile is its default profile; no bucket means the CloudFormation export', async (t) => {
  const { dir, env } = home(t, (dir) => ({ etc: { conf: `[aws]\ncredentials_file = ${join(dir, 'backup', 'backup-credentials')}\n[cloudformation]\nregion = us-east-2\n` } }))
  const conf = join(dir, 'etc')
  t.same(await resolveCredentialsToPack({ configDir: conf, env }), {
    accessKeyId: ADMIN.id, secretAccessKey: ADMIN.secret, description: `profile "default" of ${join(dir, 'backup', 'backup-credentials')}`,
    region: 'us-west-2', cfnExport: 'backup-bucket', cfnRegion: 'us-east-2',
  })
})

t.test('--config DIR: only a profile means a standard profile', async (t) => {
  const { dir, env } = home(t, () => ({ etc: { conf: '[aws]\nprofile = admin\n[s3]\nbucket = b-1\n' } }))
  const conf = join(dir, 'etc')
  t.match(await resolveCredentialsToPack({ configDir: conf, env }), { accessKeyId: ADMIN.id, description: 'profile "admin"', bucket: 'b-1', region: 'eu-west-3' })
})

t.test('a missing credentials_file, a missing profile, a bad configuration: ConfigError naming them', async (t) => {
  const { dir, env } = home(t, () => ({ etc: { conf: '[aws]\ncredentials_file = nothere\n', bad: { conf: '[aws]\nprofiel = x\n' } } }))
  const conf = join(dir, 'etc')
  await t.rejects(resolveCredentialsToPack({ configDir: conf, env }), { exitStatus: 2, message: `${join(conf, 'conf')}: [aws] credentials_file ${join(conf, 'nothere')}: no such file` })
  await t.rejects(resolveCredentialsToPack({ profile: 'nope', env }), { exitStatus: 2, message: /^no credentials from profile "nope": Could not resolve credentials using profile: \[nope\]/ })
  await t.rejects(resolveCredentialsToPack({ configDir: join(conf, 'bad'), env }), { exitStatus: 2, message: /conf:2: unknown setting "profiel" in \[aws\]/ })
})

t.test('short-lived credentials are refused with the reason and what to use instead', async (t) => {
  const { env } = home(t)
  await t.rejects(resolveCredentialsToPack({ profile: 'session', env }), {
    exitStatus: 2,
    message: 'profile "session" gives short-lived credentials (they carry a session token), which would be useless by the time of a restore; ' +
      'pack an IAM user\'s long-lived access key instead, e.g. one made by "s3-sysbackup write-config --create-user"',
  })
  await t.rejects(resolveCredentialsToPack({ profile: 'asia', env }), { message: /short-lived credentials \(ASIA… is a temporary key\)/ })
  t.throws(() => refuseShortLived({ accessKeyId: 'AKIAX', secretAccessKey: 's', expiration: new Date('2026-11-26T09:00:00Z') }, 'the standard credential chain'),
    { message: /^the standard credential chain gives short-lived credentials \(they expire at 2026-11-26T09:00:00.000Z\)/ })
  t.doesNotThrow(() => refuseShortLived({ accessKeyId: 'AKIAX', secretAccessKey: 's' }, 'x'))
})
