import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam'
import { sealPackage } from '../../src/creds/package-crypto.js'
import { writePackageFile } from '../../src/creds/package-file.js'
import { ROOT } from '../helpers/bin.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { startMoto, type Moto } from '../helpers/moto.js'
import { runOnTerminal } from '../helpers/terminal.js'
import { traceWrites } from '../helpers/trace-writes.js'
import { compareTrees } from '../helpers/tree-compare.js'

const CHEAP = { log2N: 4, r: 1, p: 1 }
const PASSWORD = 'correct horse battery staple'
const BIN = join(ROOT, 'bin/s3-sysbackup.js')
const RUN = new Date('2026-11-26T08:00:00Z')

let moto: Moto
t.before(async () => { moto = await startMoto() })
t.teardown(async () => { await moto.stop() })

/** Environment of the restore: moto's endpoint and region, and no AWS credentials at all. */
function restoreEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')))
  return { ...clean, AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra }
}

/** Files under `dirs` modified since `since` (ms) that contain `needle`. */
function filesContaining(dirs: string[], needle: string, since: number): string[] {
  const found: string[] = []
  const marker = join(tmpdir(), `since-${process.pid}`)
  writeFileSync(marker, '')
  execFileSync('touch', ['-d', `@${Math.floor(since / 1000) - 1}`, marker])
  for (const dir of dirs) {
    let list = ''
    try {
      list = execFileSync('find', [dir, '-xdev', '-type', 'f', '-newer', marker, '-print0'], { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] })
    } catch (err) {
      list = (err as { stdout?: string }).stdout ?? '' // unreadable corners of /tmp: the rest is still scanned
    }
    for (const path of list.split('\0').filter(Boolean)) {
      try {
        if (readFileSync(Buffer.from(path, 'latin1')).includes(needle)) found.push(path)
      } catch {
        // vanished or unreadable
      }
    }
  }
  return found
}

t.test('restore --creds: decrypted in memory, the restore role assumed, no secret on disk or in children', async (t) => {
  const started = Date.now()
  const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }
  const s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', credentials, forcePathStyle: true })
  await s3.send(new CreateBucketCommand({ Bucket: 'backups', ObjectLockEnabledForBucket: true }))
  const iam = new IAMClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials })
  await iam.send(new CreateUserCommand({ UserName: 'restorer' }))
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'restorer' }))).AccessKey!
  await iam.send(new CreateRoleCommand({ RoleName: 'DataRestoreRole-s3-sysbackup', AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}' }))
  const secret = key.SecretAccessKey!

  const dir = t.testdir({ src: { etc: { 'app.conf': 'x = 1\n', 'db.conf': 'password = not-this-one\n' } } })
  const out = join(dir, 'out')
  mkdirSync(out)
  await runBackup(join(dir, 'src'), join(dir, 'work'), {
    host: 'web1', runTime: RUN, storeArgs: [], conf: `[s3]\nbucket = backups\nendpoint = ${moto.endpoint}\n`, env: moto.env,
    snapshotters: { dump: `echo '::restore-through:: cat > "$OUT/received"; env > "$OUT/env"'\nprintf 'the dump\\n' >&"$1"` },
  })

  const pkg = join(dir, 'site.creds')
  writePackageFile(pkg, await sealPackage({ accessKeyId: key.AccessKeyId!, secretAccessKey: secret, region: 'us-east-1', bucket: 'backups', createdAt: RUN.toISOString() }, Buffer.from(PASSWORD), { kdf: CHEAP }))

  const target = join(dir, 'target')
  const traced = await traceWrites(process.execPath, [BIN, 'restore', '--creds', pkg, '--password-fd', '3', '--host', 'web1', '--target', target, '--yes'], {
    env: restoreEnv({ OUT: out }), fd3: `${PASSWORD}\n`, cwd: dir, timeoutMs: 120_000,
  })
  t.equal(traced.status, 0, traced.stderr)
  t.match(traced.stdout, /^Restored manifests\/web1\/20261126T080000Z\.ndjson\.gz into /)
  t.same(await compareTrees(join(dir, 'src'), join(target, dir, 'src')), [])
  t.equal(readFileSync(join(out, 'received'), 'utf8'), 'the dump\n', 'the snapshot went to its restore-through command')

  t.ok(traced.wrote('Action=AssumeRole'), 'the restore role was assumed through STS')
  t.ok(traced.wrote('DataRestoreRole-s3-sysbackup'), '…the package\'s default role')
  t.notOk(traced.wrote(secret), 'the secret key was never written, by any syscall, to any file, pipe or socket')
  t.notOk(traced.wrote(PASSWORD), 'nor the password')
  const created = traced.created.filter((p) => !p.startsWith('/dev/') && !p.startsWith('/proc/'))
  t.same(created.filter((p) => !p.startsWith(target + '/') && !p.startsWith(out + '/')), [], 'files were created only in the target (and by the snapshot command)')
  t.same(filesContaining([target, out, dir, tmpdir()], secret, started), [], 'no file in the target, the working directory or TMPDIR holds the secret')

  const env = readFileSync(join(out, 'env'), 'utf8')
  t.notMatch(env, /^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)=/m, 'the restore-through command got no AWS credentials')
  t.notOk(env.includes(secret), 'nor the secret in any variable')
  t.notOk(env.includes(key.AccessKeyId!), 'nor the key ID')
  t.match(env, /^OUT=/m, 'its other variables are kept')

  // list --creds, with an MFA device: the code is asked on the terminal; the session is made with it.
  const pwFile = join(dir, 'pw')
  writeFileSync(pwFile, PASSWORD, { mode: 0o600 })
  const listed = await runOnTerminal(`'${process.execPath}' '${BIN}' list --creds '${pkg}' --password-fd 3 --mfa-serial arn:aws:iam::123456789012:mfa/restorer 3<'${pwFile}'`,
    restoreEnv(), [{ expect: /MFA code for arn:aws:iam::123456789012:mfa\/restorer: $/, send: '123456\r' }])
  t.equal(listed.status, 0, listed.output)
  t.match(listed.output, /   web1  2026-11-26T08:00:00Z  complete\s+\d+\s+\S+ B\s+2099-01-01T00:00:00Z  manifests\/web1\/20261126T080000Z\.ndjson\.gz/)

  const wrong = await traceWrites(process.execPath, [BIN, 'list', '--creds', pkg, '--password-fd', '3'], { env: restoreEnv(), fd3: 'wrong password\n' })
  t.equal(wrong.status, 2)
  t.equal(wrong.stderr, `s3-sysbackup list: ${pkg}: wrong password, or the file has been altered (the two cannot be told apart)\n`)
})
