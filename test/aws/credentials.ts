/**
 * The [aws] section: which credentials and region each combination of
 * settings gives, with STS AssumeRole against a real moto_server.
 */
import t, { type Test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { ConfigError, FatalError } from '../../src/cli/errors.js'
import { loadConfig, type LoadedConfig } from '../../src/config/load-config.js'
import { awsAccess, backupSessionParams, resolveCredentials } from '../../src/aws/credentials.js'
import { openStore } from '../../src/store/open-store.js'
import type { S3Store } from '../../src/store/s3-store.js'
import { startMoto, type Moto } from '../helpers/moto.js'

let moto: Moto
t.before(async () => {
  moto = await startMoto()
  Object.assign(process.env, moto.env)
})
t.teardown(async () => {
  await moto.stop()
})

const CREDS = [
  '[default]', 'aws_access_key_id = AKIAFILEDEFAULT', 'aws_secret_access_key = secret-default', '',
  '[backup]', 'aws_access_key_id = AKIAFILEBACKUP', 'aws_secret_access_key = secret-backup', '',
  '[empty]', 'region = eu-west-1', '',
].join('\n')

const bases = new WeakMap<Test, string>()
let configs = 0

/** A fresh configuration directory (under the test's own) holding `conf` and `files`. */
function config(t: Test, conf: string, files: Record<string, string> = {}): LoadedConfig {
  let base = bases.get(t)
  if (base === undefined) bases.set(t, base = t.testdir())
  const dir = join(base, `etc-${++configs}`)
  mkdirSync(dir)
  for (const [name, text] of Object.entries({ conf, ...files })) writeFileSync(join(dir, name), text)
  return loadConfig(dir, {})
}

function thrown(fn: () => unknown): Error {
  try {
    fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected an error')
}

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a rejection')
}

/** Runs `fn` with environment variables changed, restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) if (x === undefined) delete process.env[k]; else process.env[k] = x
  }
  apply(vars)
  try {
    return await fn()
  } finally {
    apply(saved)
  }
}

t.test('role_arn without credentials_file is a configuration error', async (t) => {
  const c = config(t, '[aws]\nrole_arn = arn:aws:iam::123456789012:role/backup\n')
  const err = thrown(() => awsAccess(c))
  t.ok(err instanceof ConfigError)
  t.equal(err.message, `${c.file}: [aws] role_arn is used only with [aws] credentials_file; ` +
    'to assume a role with the standard AWS files, configure it in a profile (role_arn and source_profile in ~/.aws/config) and name that profile in [aws] profile')
})

t.test('credentials_file problems are named before any request', async (t) => {
  const missing = thrown(() => awsAccess(config(t, '[aws]\ncredentials_file = nothing-here\n')))
  t.ok(missing instanceof ConfigError)
  t.match(missing.message, /conf: \[aws\] credentials_file \/.*\/etc-\d+\/nothing-here: cannot read: ENOENT$/)
  t.end()
})

t.test('a profile the credentials file lacks', async (t) => {
  const err = thrown(() => awsAccess(config(t, '[aws]\ncredentials_file = creds\nprofile = nobody\n', { creds: CREDS })))
  t.ok(err instanceof ConfigError)
  t.match(err.message, /conf: \[aws\] credentials_file \/\S+\/creds has no profile \[nobody\] \(it has: default, backup, empty\); set \[aws\] profile$/)
})

t.test('credentials_file: its profile, its default, and nothing from ~/.aws', async (t) => {
  const c = config(t, '[aws]\ncredentials_file = creds\nprofile = backup\n', {
    creds: CREDS,
    // Were the standard config consulted, [profile backup] would turn into a role assumption.
    'aws-config': '[profile backup]\nrole_arn = arn:aws:iam::123456789012:role/hijack\nsource_profile = default\n',
  })
  await withEnv({ AWS_CONFIG_FILE: join(c.dir!, 'aws-config') }, async () => {
    const access = awsAccess(c)
    t.match(access.source, /^profile "backup" of \/\S+\/creds$/)
    t.match(await resolveCredentials(access), { accessKeyId: 'AKIAFILEBACKUP', secretAccessKey: 'secret-backup' })
    t.notOk((await resolveCredentials(access)).sessionToken, 'no role was assumed')
  })
  const d = awsAccess(config(t, '[aws]\ncredentials_file = creds\n', { creds: CREDS }))
  t.match(await resolveCredentials(d), { accessKeyId: 'AKIAFILEDEFAULT' }, 'profile default when none is named')
})

t.test('credentials that cannot be resolved are a FatalError naming their source', async (t) => {
  const access = awsAccess(config(t, '[aws]\ncredentials_file = creds\nprofile = empty\n', { creds: CREDS }))
  const err = await rejects(resolveCredentials(access))
  t.ok(err instanceof FatalError)
  t.match(err.message, /^cannot get AWS credentials from profile "empty" of \/\S+\/creds: /)
  t.notMatch(err.message, /\n/)

  // Through a store, the same one line reaches the user.
  const c = config(t, '[aws]\ncredentials_file = creds\nprofile = empty\n[s3]\nbucket = b\n', { creds: CREDS })
  const store = await openStore(c)
  const viaStore = await rejects(store.head('content/x'))
  t.ok(viaStore instanceof FatalError, 'stops the run')
  t.match(viaStore.message, /^cannot get AWS credentials from profile "empty"/)
})

t.test('a standard profile gives its credentials and region, over the environment\'s', async (t) => {
  const c = config(t, '[aws]\nprofile = ops\n[s3]\nbucket = b\n', {
    'shared-credentials': '[ops]\naws_access_key_id = AKIAPROFILEOPS\naws_secret_access_key = ops-secret\n',
    'shared-config': '[profile ops]\nregion = eu-north-1\n',
  })
  await withEnv({
    AWS_SHARED_CREDENTIALS_FILE: join(c.dir!, 'shared-credentials'),
    AWS_CONFIG_FILE: join(c.dir!, 'shared-config'),
    AWS_REGION: undefined,
  }, async () => {
    const access = awsAccess(c)
    t.equal(access.source, 'AWS profile "ops"')
    t.match(await resolveCredentials(access), { accessKeyId: 'AKIAPROFILEOPS' }, 'not AWS_ACCESS_KEY_ID from the environment')
    const store = await openStore(c) as S3Store
    t.equal(await store.client.config.region(), 'eu-north-1', 'the profile\'s region')
  })
})

t.test('no [aws] settings: the default chain, and [aws] region wins', async (t) => {
  const c = config(t, '[aws]\nregion = ap-south-1\n[s3]\nbucket = b\n')
  const access = awsAccess(c)
  t.equal(access.source, 'the default AWS credential chain')
  t.match(await resolveCredentials(access), { accessKeyId: moto.env.AWS_ACCESS_KEY_ID })
  const store = await openStore(c) as S3Store
  t.equal(await store.client.config.region(), 'ap-south-1')
  await withEnv({ AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined, AWS_CONFIG_FILE: join(c.dir!, 'none') }, async () => {
    const fallback = await openStore(config(t, '[s3]\nbucket = b\n')) as S3Store
    t.equal(await fallback.client.config.region(), 'us-east-1', 'no region anywhere: us-east-1, following S3 redirects')
  })
})

t.test('credentials_file + role_arn: the file\'s credentials assume the role through STS', async (t) => {
  const role = 'arn:aws:iam::123456789012:role/backup-role'
  const c = config(t, `[aws]\ncredentials_file = creds\nprofile = backup\nrole_arn = ${role}\n[s3]\nbucket = b\n`, { creds: CREDS })
  const store = await openStore(c) as S3Store
  const used = await store.client.config.credentials()
  t.match(used.accessKeyId, /^ASIA/, 'temporary credentials from AssumeRole')
  t.ok(used.sessionToken, 'with a session token')
  t.ok(used.expiration && used.expiration.getTime() > Date.now(), 'and an expiry, renewed before it passes')
  const who = await new STSClient({ credentials: used }).send(new GetCallerIdentityCommand({}))
  t.equal(who.Arn, `arn:aws:sts::123456789012:assumed-role/backup-role/s3-sysbackup-${hostname()}`.slice(0, who.Arn!.length), 'acting as the role')
  t.match(who.Arn, /assumed-role\/backup-role\/s3-sysbackup-/)

  const named = config(t, `[aws]\ncredentials_file = creds\nprofile = backup\nrole_arn = ${role}\n[archive]\nhost = web1\n[s3]\nbucket = b\n`, { creds: CREDS })
  const asWeb1 = await (await openStore(named) as S3Store).client.config.credentials()
  const whoWeb1 = await new STSClient({ credentials: asWeb1 }).send(new GetCallerIdentityCommand({}))
  t.match(whoWeb1.Arn, /assumed-role\/backup-role\/s3-sysbackup-web1$/, 'the session is named after [archive] host')

  const broken = config(t, `[aws]\ncredentials_file = creds\nprofile = empty\nrole_arn = ${role}\n`, { creds: CREDS })
  const err = await rejects(resolveCredentials(awsAccess(broken)))
  t.ok(err instanceof FatalError, 'without the file\'s credentials there is no role')
  t.match(err.message, /^cannot get AWS credentials from profile "empty" of \S+\/creds: CredentialsProviderError: /, 'the file is named as the culprit')
})

t.test('the backup session carries the host tag the package\'s role requires', async (t) => {
  t.same(backupSessionParams('arn:aws:iam::123456789012:role/r', 'web1.example.org'), {
    RoleArn: 'arn:aws:iam::123456789012:role/r',
    RoleSessionName: 's3-sysbackup-web1.example.org',
    Tags: [{ Key: 's3-sysbackup-host', Value: 'web1.example.org' }],
  })
  t.equal(backupSessionParams('r', 'x'.repeat(100)).RoleSessionName.length, 64, 'session names are cut to STS\'s limit')
})
