import t from 'tap'
import { hostname } from 'node:os'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ini from 'ini'
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation'
import { CreateGroupCommand, CreateUserCommand, GetUserCommand, IAMClient, ListAccessKeysCommand, ListGroupsForUserCommand, ListUserTagsCommand, ListUsersCommand } from '@aws-sdk/client-iam'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { main } from '../../src/commands/s3-sysbackup.js'
import { parseConf } from '../../src/config/load-config.js'
import { ROOT, runBin, type BinResult } from '../helpers/bin.js'
import { testIO } from '../helpers/io.js'
import { startMoto } from '../helpers/moto.js'
import { MOTO_GROUPS, writeMotoTemplate } from '../helpers/moto-template.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const moto = await startMoto()
t.teardown(() => moto.stop())
const home = t.testdir({})
const env = { ...moto.env, HOME: home, AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none') }
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }
const clientConfig = { endpoint: moto.endpoint, region: 'us-east-1', credentials }
const cfn = new CloudFormationClient(clientConfig)
const iam = new IAMClient(clientConfig)
const template = readFileSync(writeMotoTemplate(t.testdir({})), 'utf8')
const BIN = join(ROOT, 'bin/s3-sysbackup.js')
// The bin files' flags for node (src/cli/node-flags.ts) go into the unit too.
const EXEC = `${process.execPath} --max-semi-space-size=8 ${BIN}`
const BACKUP_UID = 34
const OTHER_UID = 990
/** Scratch directories: each test makes as many as it needs under this one. */
const scratch = t.testdir({})
function scratchDir(prefix: string): string {
  return mkdtempSync(join(scratch, prefix))
}

/** A package stack in moto, with the backup group moto's CloudFormation cannot make. */
async function createPackage(name = 's3-sysbackup', parameters: Record<string, string> = {}): Promise<void> {
  await cfn.send(new CreateStackCommand({
    StackName: name, TemplateBody: template, Capabilities: ['CAPABILITY_IAM'],
    Parameters: Object.entries(parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
  }))
  await iam.send(new CreateGroupCommand({ GroupName: MOTO_GROUPS.BackupGroupName })).catch(() => {})
}

/** A fresh target root holding only the passwd and group files of a Debian system. */
function newRoot(): string {
  const root = scratchDir('root-')
  mkdirSync(join(root, 'etc'))
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n' +
    `backup:x:${BACKUP_UID}:${BACKUP_UID}:backup:/var/backups:/usr/sbin/nologin\n` +
    `offsite:x:${OTHER_UID}:${OTHER_UID}:offsite backups:/nonexistent:/usr/sbin/nologin\n`)
  writeFileSync(join(root, 'etc/group'), `root:x:0:\nbackup:x:${BACKUP_UID}:\noffsite:x:${OTHER_UID}:\n`)
  return root
}

function writeConfig(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<BinResult> {
  return runBin('s3-sysbackup', ['write-config', ...args], { env: { ...env, ...extraEnv } })
}

/** Runs write-config with the password on file descriptor 3 (--password-fd 3). */
function writeConfigWithPassword(args: string[], password: string): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
    delete childEnv.NODE_OPTIONS
    const child = spawn(process.execPath, [BIN, 'write-config', '--password-fd', '3', ...args], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
    child.on('error', reject)
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, records: () => [] }))
    child.stdin!.end()
    const passwordPipe = child.stdio[3] as NodeJS.WritableStream
    passwordPipe.on('error', () => {})
    passwordPipe.end(password + '\n')
  })
}

/** Decrypts a ccrypt file with the key on a pipe; returns the cleartext or null when the key does not match. */
function ccryptDecrypt(file: string, password: string): string | null {
  const run = spawnSync('bash', ['-c', 'ccrypt --decrypt --quiet --keyfile <(cat) < "$1"', 'decrypt', file], { input: password + '\n', encoding: 'utf8' })
  return run.status === 0 ? run.stdout : null
}

function modeOf(path: string): string {
  return (lstatSync(path).mode & 0o7777).toString(8).padStart(4, '0')
}

function ownerOf(path: string): [number, number] {
  const st = lstatSync(path)
  return [st.uid, st.gid]
}

async function iamUsers(): Promise<string[]> {
  return ((await iam.send(new ListUsersCommand({}))).Users ?? []).map((u) => u.UserName!)
}

t.beforeEach(() => moto.reset())

t.test('writes conf, pickers.d, snapshots.d, the state directory and the units, with modes and owners, and enables the timer', async (t) => {
  await createPackage()
  const root = newRoot()
  const run = await writeConfig(['--root', root])
  t.equal(run.status, 0, run.stderr)
  t.equal(run.stderr, '')
  t.equal(run.stdout, [
    'aws cloudformation DescribeStacks StackName=s3-sysbackup Region=us-east-1',
    'run  systemd-analyze verify --man=no s3-sysbackup.service s3-sysbackup.timer',
    `dir  ${root}/etc/backup 0755 root:root`,
    `file ${root}/etc/backup/conf 0644 root:root`,
    `dir  ${root}/etc/backup/pickers.d 0755 root:root`,
    `file ${root}/etc/backup/pickers.d/10-etc 0755 root:root`,
    `dir  ${root}/etc/backup/snapshots.d 0755 root:root`,
    `dir  ${root}/var/cache/s3-sysbackup 0700 backup:backup`,
    `file ${root}/etc/systemd/system/s3-sysbackup.service 0644 root:root`,
    `file ${root}/etc/systemd/system/s3-sysbackup.timer 0644 root:root`,
    `run  systemctl --root=${root} enable s3-sysbackup.timer`,
    '',
  ].join('\n'))
  const expect: Array<[string, string, number]> = [
    ['etc/backup', '0755', 0], ['etc/backup/conf', '0644', 0], ['etc/backup/pickers.d', '0755', 0],
    ['etc/backup/pickers.d/10-etc', '0755', 0], ['etc/backup/snapshots.d', '0755', 0],
    ['var/cache/s3-sysbackup', '0700', BACKUP_UID],
    ['etc/systemd/system/s3-sysbackup.service', '0644', 0], ['etc/systemd/system/s3-sysbackup.timer', '0644', 0],
  ]
  for (const [path, mode, uid] of expect) {
    t.equal(modeOf(join(root, path)), mode, `${path} mode ${mode}`)
    t.same(ownerOf(join(root, path)), [uid, uid], `${path} owned by ${uid}`)
  }
  t.same(readdirSync(join(root, 'etc/backup/snapshots.d')), [], 'snapshots.d empty')
  t.notOk(existsSync(join(root, 'etc/backup/aws-credentials')), 'no credentials without --create-user')

  const confText = readFileSync(join(root, 'etc/backup/conf'), 'utf8')
  const conf = parseConf(confText, 'conf', join(root, 'etc/backup'))
  t.equal(conf.aws.region, 'us-east-1')
  t.equal(conf.cloudformation.region, 'us-east-1')
  t.equal(conf.cloudformation.export, 'backup-bucket')
  t.equal(conf.content.days_retained, 14)
  t.equal(conf.content.lock_mode, 'GOVERNANCE')
  t.equal(conf.aws.credentials_file, undefined)
  t.notMatch(confText, /^(days_retained|lock_mode|export|dir) =/m, 'defaults are not written out')

  const picker = readFileSync(join(root, 'etc/backup/pickers.d/10-etc'), 'utf8')
  t.match(picker, /^#!\/bin\/sh\n/)
  t.match(picker, 'exec find /etc -xdev ! -path /etc/backup/aws-credentials')

  const service = readFileSync(join(root, 'etc/systemd/system/s3-sysbackup.service'), 'utf8')
  t.match(service, /^Type=oneshot$/m)
  t.match(service, /^User=backup$/m)
  t.match(service, `\nExecStart=${EXEC} archive\n`)
  t.match(service, /^Environment=S3_SYSBACKUP_CONFIG=\/etc\/backup$/m)
  t.match(service, /^AmbientCapabilities=CAP_DAC_READ_SEARCH$/m)
  t.match(service, /^CapabilityBoundingSet=CAP_DAC_READ_SEARCH$/m)
  t.match(service, /^ProtectSystem=strict$/m)
  t.match(service, /^ReadWritePaths=\/var\/cache\/s3-sysbackup$/m)
  t.match(service, /^IOSchedulingClass=idle$/m)
  const timer = readFileSync(join(root, 'etc/systemd/system/s3-sysbackup.timer'), 'utf8')
  t.match(timer, /^OnCalendar=\*-\*-\* 01:00:00$/m)
  t.match(timer, /^RandomizedDelaySec=4h$/m)
  t.match(timer, /^Persistent=true$/m)
  t.match(timer, /^WantedBy=timers.target$/m)

  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', join(root, 'etc/systemd/system/s3-sysbackup.service'), join(root, 'etc/systemd/system/s3-sysbackup.timer')], { encoding: 'utf8' })
  t.equal(verify.status, 0, 'the installed units pass systemd-analyze verify')
  t.equal(verify.stdout + verify.stderr, '', 'without a single warning')
  const link = join(root, 'etc/systemd/system/timers.target.wants/s3-sysbackup.timer')
  t.equal(readlinkSync(link), '/etc/systemd/system/s3-sysbackup.timer', 'timer enabled in the root')
  const enabled = spawnSync('systemctl', [`--root=${root}`, 'is-enabled', 's3-sysbackup.timer'], { encoding: 'utf8' })
  t.equal(enabled.stdout.trim(), 'enabled', 'systemctl agrees')
})

t.test('settings from the package and from the options', async (t) => {
  await createPackage('offsite', { RetentionDays: '30', LockMode: 'COMPLIANCE', ExportName: 'offsite-bucket' })
  const root = newRoot()
  const run = await writeConfig(['--root', root, '--package-name', 'offsite', '--config', '/etc/backup-offsite', '--state-dir', '/srv/cache/offsite',
    '--user', 'offsite', '--start', '3:30', '--window', '1h 30min', '--unit-dir', '/usr/lib/systemd/system', '--no-enable'])
  t.equal(run.status, 0, run.stderr)
  const conf = parseConf(readFileSync(join(root, 'etc/backup-offsite/conf'), 'utf8'), 'conf', '/etc/backup-offsite')
  t.equal(conf.content.days_retained, 30, 'RetentionDays of the package')
  t.equal(conf.content.lock_mode, 'COMPLIANCE', 'LockMode of the package')
  t.equal(conf.cloudformation.export, 'offsite-bucket', 'export name of the package')
  t.equal(conf.state.dir, '/srv/cache/offsite')
  t.same(ownerOf(join(root, 'srv/cache/offsite')), [OTHER_UID, OTHER_UID], 'state directory owned by the backup user')
  const service = readFileSync(join(root, 'usr/lib/systemd/system/s3-sysbackup-offsite.service'), 'utf8')
  t.match(service, /^User=offsite$/m)
  t.match(service, /^Environment=S3_SYSBACKUP_CONFIG=\/etc\/backup-offsite$/m)
  t.match(service, /^ReadWritePaths=\/srv\/cache\/offsite$/m)
  t.match(service, /^Description=.*\(package offsite\)$/m)
  const timer = readFileSync(join(root, 'usr/lib/systemd/system/s3-sysbackup-offsite.timer'), 'utf8')
  t.match(timer, /^OnCalendar=\*-\*-\* 03:30:00$/m)
  t.match(timer, /^RandomizedDelaySec=1h 30min$/m)
  t.notOk(existsSync(join(root, 'etc/systemd/system/timers.target.wants')), '--no-enable: not enabled')

  const explicit = newRoot()
  const run2 = await writeConfig(['--root', explicit, '--package-name', 'offsite', '--bucket', 'named-bucket', '--retention-days', '45', '--no-enable'])
  t.equal(run2.status, 0, run2.stderr)
  const conf2Text = readFileSync(join(explicit, 'etc/backup/conf'), 'utf8')
  const conf2 = parseConf(conf2Text, 'conf', '/etc/backup')
  t.equal(conf2.s3.bucket, 'named-bucket', '--bucket names the bucket')
  t.notMatch(conf2Text, /\[cloudformation\]/, 'no export lookup when the bucket is named')
  t.equal(conf2.content.days_retained, 45, '--retention-days wins over the package')
})

t.test('--create-user: an IAM user in the backup group, an access key, credentials 0600 owned by the backup user', async (t) => {
  await createPackage()
  const root = newRoot()
  const run = await writeConfig(['--root', root, '--create-user', 'host1.example.org', '--host', 'host1'])
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, 'aws iam CreateUser UserName=host1.example.org Path=/s3-sysbackup/ Tags=[s3-sysbackup:package=s3-sysbackup,s3-sysbackup-host=host1]\n' +
    `aws iam AddUserToGroup UserName=host1.example.org GroupName=${MOTO_GROUPS.BackupGroupName}\n` +
    'aws iam CreateAccessKey UserName=host1.example.org\n')
  t.match(run.stdout, `file ${root}/etc/backup/aws-credentials 0600 backup:backup\n`)

  const user = await iam.send(new GetUserCommand({ UserName: 'host1.example.org' }))
  t.equal(user.User!.Path, '/s3-sysbackup/')
  const tags = await iam.send(new ListUserTagsCommand({ UserName: 'host1.example.org' }))
  t.same(Object.fromEntries((tags.Tags ?? []).map((tag) => [tag.Key, tag.Value])), { 's3-sysbackup:package': 's3-sysbackup', 's3-sysbackup-host': 'host1' },
    'tagged with its host, which the backup role requires as the session tag')
  const groups = await iam.send(new ListGroupsForUserCommand({ UserName: 'host1.example.org' }))
  t.same(groups.Groups!.map((g) => g.GroupName), [MOTO_GROUPS.BackupGroupName], 'member of the backup group')
  const keys = await iam.send(new ListAccessKeysCommand({ UserName: 'host1.example.org' }))
  t.equal(keys.AccessKeyMetadata!.length, 1, 'one access key')

  const credsPath = join(root, 'etc/backup/aws-credentials')
  t.equal(modeOf(credsPath), '0600')
  t.same(ownerOf(credsPath), [BACKUP_UID, BACKUP_UID], 'owned by the backup user')
  const creds = ini.parse(readFileSync(credsPath, 'utf8')) as { default: { aws_access_key_id: string, aws_secret_access_key: string } }
  t.equal(creds.default.aws_access_key_id, keys.AccessKeyMetadata![0]!.AccessKeyId, 'the key IAM made')
  t.match(creds.default.aws_secret_access_key, /^\S{40}$/)
  const sts = new STSClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: creds.default.aws_access_key_id, secretAccessKey: creds.default.aws_secret_access_key } })
  const me = await sts.send(new GetCallerIdentityCommand({}))
  t.match(me.Arn, /:user\/s3-sysbackup\/host1\.example\.org$|:user\/host1\.example\.org$/, 'the file authenticates as the new user')

  const conf = parseConf(readFileSync(join(root, 'etc/backup/conf'), 'utf8'), 'conf', '/etc/backup')
  t.equal(conf.aws.credentials_file, '/etc/backup/aws-credentials')
  t.match(conf.aws.role_arn, /^arn:aws:iam::123456789012:role\/s3-sysbackup-BackupRole-/, 'assumes the backup role')
  t.equal(conf.archive.host, 'host1', 'the host is pinned in conf, the same as the IAM user\'s tag')
})

t.test('--encrypted-creds: a ccrypt copy that decrypts to the same credentials', async (t) => {
  await createPackage()
  const root = newRoot()
  const out = join(scratchDir('cpt-'), 'host2.cpt')
  const run = await writeConfigWithPassword(['--root', root, '--create-user', 'host2', '--encrypted-creds', out, '--no-enable'], 'correct horse battery')
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, `file ${out} 0600 (ccrypt --encrypt, key through a pipe)\n`)
  t.equal(modeOf(out), '0600')
  const cleartext = readFileSync(join(root, 'etc/backup/aws-credentials'), 'utf8')
  t.not(readFileSync(out, 'utf8'), cleartext, 'encrypted')
  t.notMatch(readFileSync(out).toString('latin1'), 'aws_secret_access_key')
  t.equal(ccryptDecrypt(out, 'correct horse battery'), cleartext, 'decrypts to the same credentials')
  t.equal(ccryptDecrypt(out, 'wrong horse'), null, 'not with another password')
})

t.test('the password is asked twice on the terminal, without echo', async (t) => {
  await createPackage()
  const root = newRoot()
  const out = join(scratchDir('cpt-'), 'typed.cpt')
  const cmd = [process.execPath, BIN, 'write-config', '--root', root, '--create-user', 'host3', '--encrypted-creds', out, '--no-enable'].map((a) => `'${a}'`).join(' ')
  const typed = await typeIntoTerminal(cmd, ['sekrit\r', 'sekrit\r'])
  t.equal(typed.status, 0, typed.output)
  t.match(typed.output, 'Password for the encrypted credentials: ')
  t.match(typed.output, 'Again: ')
  t.notMatch(typed.output, 'sekrit', 'the password is not echoed')
  t.equal(ccryptDecrypt(out, 'sekrit'), readFileSync(join(root, 'etc/backup/aws-credentials'), 'utf8'))

  const root2 = newRoot()
  const out2 = join(scratchDir('cpt-'), 'typo.cpt')
  const cmd2 = [process.execPath, BIN, 'write-config', '--root', root2, '--create-user', 'host4', '--encrypted-creds', out2, '--no-enable'].map((a) => `'${a}'`).join(' ')
  const typo = await typeIntoTerminal(cmd2, ['sekrit\r', 'sekrlt\r'])
  t.equal(typo.status, 2)
  t.match(typo.output, 's3-sysbackup write-config: the two passwords differ')
  t.same(await iamUsers(), ['host3'], 'no IAM user made for the typo')
  t.notOk(existsSync(join(root2, 'etc/backup')), 'nothing written')
  t.notOk(existsSync(out2))
})

/** Runs a shell command on a pseudo-terminal (script(1)), typing each answer once its prompt has appeared. */
function typeIntoTerminal(command: string, answers: string[]): Promise<{ status: number | null, output: string }> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
    delete childEnv.NODE_OPTIONS
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    let next = 0
    const prompts = [/Password for the encrypted credentials: $/, /Again: $/]
    const onData = (c: Buffer) => {
      output += c.toString()
      if (next < answers.length && prompts[next]!.test(output)) child.stdin.write(answers[next++]!)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, output })
    })
  })
}

t.test('without ccrypt or systemd-analyze: a clear error, or a warning', async (t) => {
  await createPackage()
  const root = newRoot()
  // A PATH with systemctl but neither ccrypt nor systemd-analyze.
  const bin = scratchDir('bin-')
  symlinkSync('/usr/bin/systemctl', join(bin, 'systemctl'))
  symlinkSync('/usr/bin/bash', join(bin, 'bash'))
  const noCcrypt = await writeConfig(['--root', root, '--create-user', 'host5', '--encrypted-creds', join(bin, 'x.cpt')], { PATH: bin })
  t.equal(noCcrypt.status, 2)
  t.equal(noCcrypt.stderr, 's3-sysbackup write-config: --encrypted-creds needs the ccrypt program, which is not on PATH (Debian and Ubuntu: apt-get install ccrypt)\n')
  t.same(await iamUsers(), [], 'no IAM user made')
  t.notOk(existsSync(join(root, 'etc/backup')), 'nothing written')

  const noAnalyze = await writeConfig(['--root', root], { PATH: bin })
  t.equal(noAnalyze.status, 0, noAnalyze.stderr)
  t.equal(noAnalyze.stderr, 's3-sysbackup write-config: warning: systemd-analyze is not on PATH; the units were not verified\n')
  t.notMatch(noAnalyze.stdout, 'systemd-analyze')
})

t.test('existing files are never overwritten without --force', async (t) => {
  await createPackage()
  const root = newRoot()
  t.equal((await writeConfig(['--root', root, '--no-enable'])).status, 0)
  const conf = join(root, 'etc/backup/conf')
  writeFileSync(conf, '# edited by hand\n')
  const again = await writeConfig(['--root', root, '--create-user', 'host6', '--no-enable'])
  t.equal(again.status, 2)
  t.equal(again.stderr, `s3-sysbackup write-config: ${root}/etc/backup/conf, ${root}/etc/backup/pickers.d/10-etc, ` +
    `${root}/etc/systemd/system/s3-sysbackup.service, ${root}/etc/systemd/system/s3-sysbackup.timer exist already; nothing written (--force replaces)\n`)
  t.equal(readFileSync(conf, 'utf8'), '# edited by hand\n', 'conf untouched')
  t.notOk(existsSync(join(root, 'etc/backup/aws-credentials')), 'no credentials written')
  t.same(await iamUsers(), [], 'and no IAM user made')

  const forced = await writeConfig(['--root', root, '--create-user', 'host6', '--no-enable', '--force'])
  t.equal(forced.status, 0, forced.stderr)
  t.match(readFileSync(conf, 'utf8'), 'credentials_file = /etc/backup/aws-credentials', '--force replaces')
  t.equal(modeOf(conf), '0644')
  t.same(readdirSync(join(root, 'etc/backup')).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left')
})

t.test('--dry-run prints every file and AWS request, and does nothing', async (t) => {
  const root = newRoot()
  const run = await writeConfig(['--root', root, '--create-user', 'host7', '--encrypted-creds', '/tmp/host7.cpt', '--region', 'eu-west-1', '--dry-run'])
  t.equal(run.status, 0, run.stderr)
  t.equal(run.stdout, [
    'aws cloudformation DescribeStacks StackName=s3-sysbackup Region=eu-west-1',
    'run  systemd-analyze verify --man=no s3-sysbackup.service s3-sysbackup.timer',
    `aws iam CreateUser UserName=host7 Path=/s3-sysbackup/ Tags=[s3-sysbackup:package=s3-sysbackup,s3-sysbackup-host=${hostname()}]`,
    'aws iam AddUserToGroup UserName=host7 GroupName="<BackupGroupName output of s3-sysbackup>"',
    'aws iam CreateAccessKey UserName=host7',
    `dir  ${root}/etc/backup 0755 root:root`,
    `file ${root}/etc/backup/conf 0644 root:root`,
    `dir  ${root}/etc/backup/pickers.d 0755 root:root`,
    `file ${root}/etc/backup/pickers.d/10-etc 0755 root:root`,
    `dir  ${root}/etc/backup/snapshots.d 0755 root:root`,
    `file ${root}/etc/backup/aws-credentials 0600 backup:backup`,
    `dir  ${root}/var/cache/s3-sysbackup 0700 backup:backup`,
    `file ${root}/etc/systemd/system/s3-sysbackup.service 0644 root:root`,
    `file ${root}/etc/systemd/system/s3-sysbackup.timer 0644 root:root`,
    'file /tmp/host7.cpt 0600 (ccrypt --encrypt, key through a pipe)',
    `run  systemctl --root=${root} enable s3-sysbackup.timer`,
    '',
  ].join('\n'))
  t.same(readdirSync(root), ['etc'])
  t.same(readdirSync(join(root, 'etc')).sort(), ['group', 'passwd'], 'nothing written')
  t.same(await iamUsers(), [], 'no IAM user')
})

t.test('units systemd-analyze rejects are not written; --no-verify writes them anyway', async (t) => {
  await createPackage()
  const root = newRoot()
  const rejected = await writeConfig(['--root', root, '--exec', '/nonexistent/s3-sysbackup'])
  t.equal(rejected.status, 2)
  t.equal(rejected.stderr, 's3-sysbackup write-config: systemd-analyze verify rejects the units, nothing written: ' +
    's3-sysbackup.service: Command /nonexistent/s3-sysbackup is not executable: No such file or directory\n')
  t.notOk(existsSync(join(root, 'etc/backup')), 'nothing written')
  const unverified = await writeConfig(['--root', root, '--exec', '/nonexistent/s3-sysbackup', '--no-verify', '--no-enable'])
  t.equal(unverified.status, 0, unverified.stderr)
  t.match(readFileSync(join(root, 'etc/systemd/system/s3-sysbackup.service'), 'utf8'), '\nExecStart=/nonexistent/s3-sysbackup archive\n')
})

t.test('the package: a lock mode it refuses, a group it lacks, a stack that is not there', async (t) => {
  await createPackage()
  const root = newRoot()
  const mode = await writeConfig(['--root', root, '--lock-mode', 'COMPLIANCE'])
  t.equal(mode.status, 2)
  t.equal(mode.stderr, "s3-sysbackup write-config: --lock-mode COMPLIANCE differs from package s3-sysbackup's GOVERNANCE: its bucket refuses other modes\n")
  const missing = await writeConfig(['--root', root, '--package-name', 'nowhere'])
  t.equal(missing.status, 3)
  t.equal(missing.stderr, 's3-sysbackup write-config: package nowhere does not exist (no stack nowhere); create it with s3-sysbackup create-resources, or give --no-stack\n')
  await iam.send(new CreateUserCommand({ UserName: 'taken' }))
  const taken = await writeConfig(['--root', root, '--create-user', 'taken'])
  t.equal(taken.status, 3)
  t.equal(taken.stderr, 's3-sysbackup write-config: IAM user taken exists already; choose another name for --create-user\n')
  t.notOk(existsSync(join(root, 'etc/backup')), 'nothing written by any of them')

  // The shipped template in moto has no group outputs (moto skips AWS::IAM::Group).
  const noGroup = await runBin('s3-sysbackup', ['create-resources', '--package-name', 'groupless', '--export-name', 'groupless-bucket', '--poll-interval', '0.05'], { env })
  t.equal(noGroup.status, 0, noGroup.stderr)
  const lacking = await writeConfig(['--root', root, '--package-name', 'groupless', '--create-user', 'host8'])
  t.equal(lacking.status, 2)
  t.equal(lacking.stderr, 's3-sysbackup write-config: package groupless has no BackupGroupName output, so --create-user has no group to join\n')
})

t.test('--no-stack: no AWS request at all', async (t) => {
  const root = newRoot()
  const run = await writeConfig(['--root', root, '--no-stack', '--bucket', 'b1', '--region', 'eu-north-1', '--no-enable'],
    { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' })
  t.equal(run.status, 0, run.stderr)
  t.notMatch(run.stdout, /^aws /m)
  const conf = parseConf(readFileSync(join(root, 'etc/backup/conf'), 'utf8'), 'conf', '/etc/backup')
  t.equal(conf.s3.bucket, 'b1')
  t.equal(conf.aws.region, 'eu-north-1')
  t.equal(conf.s3.limit_upload, undefined, 'no upload limit unless asked for')
  t.equal(conf.content.gzip_level, 1, 'the default gzip level')
  t.notMatch(readFileSync(join(root, 'etc/backup/conf'), 'utf8'), /limit_upload|gzip_level|\[content\]/, 'defaults are left out')
})

t.test('--limit-upload and --gzip-level go into conf, each with a comment', async (t) => {
  const root = newRoot()
  const run = await writeConfig(['--root', root, '--no-stack', '--bucket', 'b1', '--limit-upload', '4M', '--gzip-level', '6', '--no-enable'],
    { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' })
  t.equal(run.status, 0, run.stderr)
  const text = readFileSync(join(root, 'etc/backup/conf'), 'utf8')
  const conf = parseConf(text, 'conf', '/etc/backup')
  t.equal(conf.s3.bucket, 'b1')
  t.equal(conf.s3.limit_upload, '4M')
  t.equal(conf.content.gzip_level, 6)
  t.match(text, /^# At most this many bytes a second to the store .*\nlimit_upload = 4M$/m)
  t.match(text, /^\[content\]\n# zlib level of content worth compressing.*\ngzip_level = 6$/m)
})

t.test('bad options: one line, exit 2, nothing done', async (t) => {
  const root = newRoot()
  writeFileSync(join(root, 'plain-file'), '')
  const cases: Array<[string[], string]> = [
    [['--start', '25:00'], '--start: "25:00" is not a time of day (HH:MM or HH:MM:SS)'],
    [['--window', 'soon'], '--window: "soon" is not a time span (e.g. 4h, 90min, 1h 30min)'],
    [['--lock-mode', 'strict'], '--lock-mode: "strict" is not one of GOVERNANCE, COMPLIANCE'],
    [['--retention-days', '0'], '--retention-days: 0 is not a whole number of days, 1 or more'],
    [['--limit-upload', 'fast'], '--limit-upload "fast" is not a rate: give bytes a second, with K, M or G for KiB, MiB or GiB (e.g. 512K, 4M)'],
    [['--gzip-level', '12'], 'option --gzip-level: 12 is not a whole number from 0 to 9'],
    [['--create-user', 'two words'], '--create-user: "two words" is not a valid IAM user name (up to 64 of letters, digits and +=,.@_-)'],
    [['--encrypted-creds', 'x.cpt'], '--encrypted-creds encrypts the credentials that --create-user makes; give --create-user NAME'],
    [['--password-fd', '3'], '--password-fd is the password for --encrypted-creds; give --encrypted-creds FILE'],
    [['--create-user', 'h', '--no-stack'], "--create-user needs the package's stack (its backup group); drop --no-stack"],
    [['--config', 'etc/backup'], '--config: "etc/backup" must be an absolute path (as the target system sees it)'],
    [['--state-dir', 'cache'], '--state-dir: "cache" must be an absolute path (as the target system sees it)'],
    [['--exec', 's3-sysbackup'], '--exec: "s3-sysbackup" must be an absolute path (systemd runs it without a shell)'],
    [['--user', 'nosuch'], `--user nosuch: no such user in ${root}/etc/passwd`],
    [['--package-name', 'has space'], '--package-name: "has space" is not a valid stack name'],
    [['stray'], 'unexpected argument "stray"'],
    [['--root', join(root, 'plain-file')], `--root: ${join(root, 'plain-file')} is not a directory`],
  ]
  for (const [args, message] of cases) {
    const io = testIO('', env)
    const status = await main(['write-config', ...(args.includes('--root') ? [] : ['--root', root]), ...args], io)
    t.equal(status, 2, `${args.join(' ')}: exit 2`)
    t.equal(io.err(), `s3-sysbackup write-config: ${message}\n`, args.join(' '))
    t.equal(io.out(), '')
  }
  t.same(readdirSync(join(root, 'etc')).sort(), ['group', 'passwd'], 'nothing written')
})

t.test('--help lists every option', async (t) => {
  const run = await runBin('s3-sysbackup', ['write-config', '--help'])
  t.equal(run.status, 0)
  for (const opt of ['--root', '--config', '--package-name', '--region', '--no-stack', '--bucket', '--export-name', '--retention-days', '--lock-mode',
    '--limit-upload', '--gzip-level', '--state-dir', '--user', '--create-user', '--encrypted-creds', '--password-fd', '--exec', '--unit-dir', '--start', '--window',
    '--no-enable', '--no-verify', '--dry-run', '--force']) t.match(run.stdout, opt)
})
