import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand } from '../../src/cli/command.js'
import { packCredsCommand } from '../../src/commands/pack-creds.js'
import { main as s3sysbackup } from '../../src/commands/s3-sysbackup.js'
import { openCredentialsPackage } from '../../src/creds/package-file.js'
import { parsePackage } from '../../src/creds/package-format.js'
import { ROOT } from '../helpers/bin.js'
import { testIO } from '../helpers/io.js'
import { runOnTerminal } from '../helpers/terminal.js'
import { traceWrites } from '../helpers/trace-writes.js'

const ADMIN = { id: 'AKIAADMINEXAMPLE0001', secret: 'adminSecretKeyExampleExampleExample00001' }
const PASSWORD = 'correct horse battery staple'
const CHEAP = { log2N: 4, r: 1, p: 1 }
/** The command as registered, except for cheap KDF parameters and a fixed clock. */
const packCreds = packCredsCommand('sysbackup-packcreds', 'sysbackup-packcreds(1)', { kdf: CHEAP, now: () => new Date('2026-11-26T08:00:00Z') })

/** A home with standard AWS files, a password file, and a configuration directory. */
function setup(t: Test) {
  const dir = t.testdir({
    aws: {
      credentials: `[admin]\naws_access_key_id = ${ADMIN.id}\naws_secret_access_key = ${ADMIN.secret}\n` +
        '[session]\naws_access_key_id = ASIATEMPORARYEXAMPLE\naws_secret_access_key = tempSecretExample\naws_session_token = FwoGZXIvYXdzEXAMPLE\n',
      config: '[profile admin]\nregion = eu-west-3\n',
    },
    'password.txt': `${PASSWORD}\n`,
    'short.txt': 'short\n',
    etc: {
      conf: '[aws]\ncredentials_file = backup-credentials\nprofile = backup\nregion = eu-north-1\n[s3]\nbucket = site-backups\n',
      'backup-credentials': `[backup]\naws_access_key_id = ${ADMIN.id}\naws_secret_access_key = ${ADMIN.secret}\n`,
    },
    out: {},
  })
  const env = { HOME: dir, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws', 'credentials'), AWS_CONFIG_FILE: join(dir, 'aws', 'config'), AWS_EC2_METADATA_DISABLED: 'true' }
  return { dir, env, out: (name: string) => join(dir, 'out', name) }
}

/** Runs the command in-process with the password on a file descriptor. */
async function run(t: Test, env: NodeJS.ProcessEnv, args: string[], passwordFile?: string) {
  const io = testIO('', env)
  const fd = passwordFile ? openSync(passwordFile, 'r') : undefined
  try {
    const status = await runCommand(packCreds, fd !== undefined ? ['--password-fd', String(fd), ...args] : args, io)
    return { status, out: io.out(), err: io.err() }
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

async function open(file: string, password = PASSWORD) {
  return openCredentialsPackage(file, { buffer: Buffer.from(password) })
}

t.test('packs a profile\'s key under the password read from --password-fd, mode 0600', async (t) => {
  const { dir, env, out } = setup(t)
  const r = await run(t, env, ['--profile', 'admin', out('a.pkg')], join(dir, 'password.txt'))
  t.equal(r.status, 0, r.err)
  t.equal(r.out, '', 'nothing on stdout')
  t.equal(r.err, `sysbackup-packcreds: wrote ${out('a.pkg')}: access key AKIA…0001 from profile "admin"; region eu-west-3; role DataRestoreRole-s3-sysbackup of the key's account\n`)
  t.equal(statSync(out('a.pkg')).mode & 0o7777, 0o600)
  t.same(await open(out('a.pkg')), { accessKeyId: ADMIN.id, secretAccessKey: ADMIN.secret, region: 'eu-west-3', createdAt: '2026-11-26T08:00:00.000Z' })
  t.notOk(readFileSync(out('a.pkg')).includes(ADMIN.secret), 'the secret is not in the file in the clear')
  t.notOk(r.err.includes(ADMIN.secret), 'nor in the messages')
})

t.test('records the region, role, package name, bucket or export, and MFA device given', async (t) => {
  const { dir, env, out } = setup(t)
  const r = await run(t, env, [
    '--profile', 'admin', '--region', 'us-east-2', '--role-arn', 'arn:aws:iam::123456789012:role/DataRestoreRole-prod',
    '--package-name', 'prod', '--bucket', 'prod-backups', '--mfa-serial', 'arn:aws:iam::123456789012:mfa/admin', out('b.pkg'),
  ], join(dir, 'password.txt'))
  t.equal(r.status, 0, r.err)
  t.same(await open(out('b.pkg')), {
    accessKeyId: ADMIN.id, secretAccessKey: ADMIN.secret, region: 'us-east-2', roleArn: 'arn:aws:iam::123456789012:role/DataRestoreRole-prod',
    packageName: 'prod', bucket: 'prod-backups', mfaSerial: 'arn:aws:iam::123456789012:mfa/admin', createdAt: '2026-11-26T08:00:00.000Z',
  })
  t.match(r.err, /role arn:aws:iam::123456789012:role\/DataRestoreRole-prod; bucket prod-backups; MFA device arn:aws:iam::123456789012:mfa\/admin\n$/)
  const e = await run(t, env, ['--profile', 'admin', '--cfn-export', 'prod-bucket', '--cfn-region', 'eu-central-1', out('e.pkg')], join(dir, 'password.txt'))
  t.equal(e.status, 0, e.err)
  t.match(await open(out('e.pkg')), { cfnExport: 'prod-bucket', cfnRegion: 'eu-central-1' })
  t.notOk('bucket' in await open(out('e.pkg')))
})

t.test('--config DIR: the [aws] credentials, with the configuration\'s region and bucket; options override', async (t) => {
  const { dir, env, out } = setup(t)
  const r = await run(t, env, ['--config', join(dir, 'etc'), out('c.pkg')], join(dir, 'password.txt'))
  t.equal(r.status, 0, r.err)
  t.match(r.err, `from profile "backup" of ${join(dir, 'etc', 'backup-credentials')}; region eu-north-1;`)
  t.same(await open(out('c.pkg')), { accessKeyId: ADMIN.id, secretAccessKey: ADMIN.secret, region: 'eu-north-1', bucket: 'site-backups', createdAt: '2026-11-26T08:00:00.000Z' })
  const o = await run(t, env, ['--config', join(dir, 'etc'), '--region', 'sa-east-1', '--cfn-export', 'x-bucket', out('o.pkg')], join(dir, 'password.txt'))
  t.equal(o.status, 0, o.err)
  const p = await open(out('o.pkg'))
  t.match(p, { region: 'sa-east-1', cfnExport: 'x-bucket' })
  t.notOk('bucket' in p, '--cfn-export replaces the configuration\'s bucket')
})

t.test('refuses to overwrite, before asking for a password', async (t) => {
  const { env, out } = setup(t)
  writeFileSync(out('exists.pkg'), 'precious')
  const io = testIO('', env)
  // fd 987 is not open: had the password been read, the error would be about it.
  t.equal(await runCommand(packCreds, ['--profile', 'admin', '--password-fd', '987', out('exists.pkg')], io), 2)
  t.equal(io.err(), `sysbackup-packcreds: ${out('exists.pkg')}: already exists; refusing to overwrite it\n`)
  t.equal(readFileSync(out('exists.pkg'), 'utf8'), 'precious')
})

t.test('refuses short-lived credentials with the reason, and writes nothing', async (t) => {
  const { dir, env, out } = setup(t)
  const r = await run(t, env, ['--profile', 'session', out('s.pkg')], join(dir, 'password.txt'))
  t.equal(r.status, 2)
  t.equal(r.err, 'sysbackup-packcreds: profile "session" gives short-lived credentials (they carry a session token), which would be useless by the time of a restore; ' +
    'pack an IAM user\'s long-lived access key instead, e.g. one made by "s3-sysbackup write-config --create-user"\n')
  t.notOk(existsSync(out('s.pkg')))
})

t.test('usage errors: exit 2, one line, nothing written', async (t) => {
  const { dir, env, out } = setup(t)
  const cases: [string[], string][] = [
    [[], 'missing FILE: where to write the package (see --help)'],
    [[out('x'), out('y')], `unexpected argument "${out('y')}" (give one FILE)`],
    [['--region', 'Europe', out('x')], 'option --region: "Europe" is not an AWS region such as eu-west-1'],
    [['--cfn-region', 'eu_west_1', out('x')], 'option --cfn-region: "eu_west_1" is not an AWS region such as eu-west-1'],
    [['--role-arn', 'DataRestoreRole', out('x')], 'option --role-arn: "DataRestoreRole" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)'],
    [['--package-name', '9lives', out('x')], 'option --package-name: "9lives" is not a resource package name (a letter, then letters, digits or hyphens; at most 48)'],
    [['--bucket', 'Bad_Bucket', out('x')], 'option --bucket: "Bad_Bucket" is not an S3 bucket name'],
    [['--cfn-export', 'has space', out('x')], 'option --cfn-export: "has space" is not a CloudFormation export name'],
    [['--mfa-serial', 'short', out('x')], 'option --mfa-serial: "short" is not an MFA device serial number or ARN'],
    [['--bucket', 'b-1', '--cfn-export', 'e', out('x')], 'give --bucket or --cfn-export, not both'],
    [['--password-fd=-2', out('x')], 'option --password-fd: "-2" is not a file descriptor number'],
    [['--passwd', 'x', out('x')], 'unknown option --passwd (see --help)'],
    [['--profile', 'nope', out('x')], 'no credentials from profile "nope": Could not resolve credentials using profile: [nope] in configuration/credentials file(s).'],
    [['--config', join(dir, 'none'), out('x')], `${join(dir, 'none', 'conf')}: missing configuration file`],
  ]
  for (const [args, message] of cases) {
    const io = testIO('', env)
    t.equal(await runCommand(packCreds, args, io), 2, args.join(' '))
    t.equal(io.err(), `sysbackup-packcreds: ${message}\n`)
  }
  const short = await run(t, env, ['--profile', 'admin', out('short.pkg')], join(dir, 'short.txt'))
  t.equal(short.status, 2)
  t.equal(short.err, 'sysbackup-packcreds: password too short: a package password needs at least 8 characters\n')
  t.notOk(existsSync(out('x')) || existsSync(out('short.pkg')), 'nothing written')
})

t.test('--check opens a package and shows what it holds, never the secret', async (t) => {
  const { dir, env, out } = setup(t)
  await run(t, env, ['--profile', 'admin', '--bucket', 'prod-backups', out('k.pkg')], join(dir, 'password.txt'))
  const r = await run(t, env, ['--check', out('k.pkg')], join(dir, 'password.txt'))
  t.equal(r.status, 0, r.err)
  t.equal(r.out, [
    `file: ${out('k.pkg')}`, 'format: version 1, scrypt N=2^4 r=1 p=1, AES-256-GCM', 'created: 2026-11-26T08:00:00.000Z',
    'access key: AKIA…0001', 'region: eu-west-3', 'bucket: prod-backups', '',
  ].join('\n'))
  t.notOk(r.out.includes(ADMIN.secret) || r.out.includes(ADMIN.id))
  writeFileSync(join(dir, 'wrong.txt'), 'not the password\n')
  const wrong = await run(t, env, ['--check', out('k.pkg')], join(dir, 'wrong.txt'))
  t.same([wrong.status, wrong.out, wrong.err], [2, '', `sysbackup-packcreds: ${out('k.pkg')}: wrong password, or the file has been altered (the two cannot be told apart)\n`])
  const bad = await run(t, env, ['--check', '--profile', 'admin', out('k.pkg')], join(dir, 'password.txt'))
  t.same([bad.status, bad.err], [2, 'sysbackup-packcreds: --check takes only --password-fd and FILE, not --profile\n'])
})

t.test('s3-sysbackup pack-creds is the same command', async (t) => {
  const io = testIO()
  t.equal(await s3sysbackup(['pack-creds', '--help'], io), 0)
  t.match(io.out(), /^Usage: s3-sysbackup pack-creds \[--profile NAME \| --config DIR\]/)
  t.match(io.out(), /See s3-sysbackup-pack-creds\(1\)\.\n$/)
  const list = testIO()
  await s3sysbackup(['--help'], list)
  t.match(list.out(), /^ {2}pack-creds {2,}encrypt credentials/m)
})

// ---- The real program, with the real key derivation parameters ----

const BIN = join(ROOT, 'bin', 'sysbackup-packcreds.js')

interface Result { status: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** Runs the bin with a pipe on fd 3 carrying `fd3`, in a clean environment (no AWS variables of ours). */
function runWithFd3(args: string[], env: NodeJS.ProcessEnv, fd3?: string, options: { detached?: boolean } = {}): Promise<Result> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && k !== 'NODE_OPTIONS'))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...clean, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe', fd3 !== undefined ? 'pipe' : 'ignore'],
      detached: options.detached ?? false,
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (c: Buffer) => out.push(c))
    child.stderr!.on('data', (c: Buffer) => err.push(c))
    if (fd3 !== undefined) {
      const pipe = child.stdio[3] as NodeJS.WritableStream
      pipe.on('error', () => {}) // the program may exit without reading it (refused before the password)
      pipe.end(fd3)
    }
    child.on('error', reject)
    child.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }))
  })
}

t.test('process: --password-fd 3 on a pipe; the file records N=2^18 r=8 p=1 and opens', async (t) => {
  const { env, out } = setup(t)
  const r = await runWithFd3(['--profile', 'admin', '--password-fd', '3', out('p.pkg')], env, `${PASSWORD}\n`)
  t.equal(r.status, 0, r.stderr)
  t.match(r.stderr, /^sysbackup-packcreds: wrote .*p\.pkg: access key AKIA…0001 from profile "admin"; region eu-west-3;/)
  t.equal(statSync(out('p.pkg')).mode & 0o7777, 0o600)
  t.same(parsePackage(readFileSync(out('p.pkg')), 'p.pkg').header.kdf, { log2N: 18, r: 8, p: 1 })
  const check = await runWithFd3(['--check', '--password-fd', '3', out('p.pkg')], env, PASSWORD)
  t.equal(check.status, 0, check.stderr)
  t.match(check.stdout, /^format: version 1, scrypt N=2\^18 r=8 p=1, AES-256-GCM$/m)
  t.match(check.stdout, /^access key: AKIA…0001$/m)
})

t.test('process: the standard chain takes AWS_ACCESS_KEY_ID from the environment; a session token is refused', async (t) => {
  const { out } = setup(t)
  const home = t.testdirName
  const keys = { HOME: home, AWS_ACCESS_KEY_ID: ADMIN.id, AWS_SECRET_ACCESS_KEY: ADMIN.secret, AWS_REGION: 'ap-northeast-1', AWS_EC2_METADATA_DISABLED: 'true' }
  const r = await runWithFd3(['--password-fd', '3', out('env.pkg')], keys, PASSWORD)
  t.equal(r.status, 0, r.stderr)
  t.match(r.stderr, /from the standard credential chain; region ap-northeast-1;/)
  const s = await runWithFd3(['--password-fd', '3', out('tok.pkg')], { ...keys, AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEXAMPLE' }, PASSWORD)
  t.equal(s.status, 2)
  t.match(s.stderr, /^sysbackup-packcreds: the standard credential chain gives short-lived credentials \(they carry a session token\)/)
  const none = await runWithFd3(['--password-fd', '3', out('none.pkg')], { HOME: home, AWS_EC2_METADATA_DISABLED: 'true' }, PASSWORD)
  t.equal(none.status, 2)
  t.match(none.stderr, /^sysbackup-packcreds: no credentials from the standard credential chain: /)
  t.notOk(existsSync(out('tok.pkg')) || existsSync(out('none.pkg')))
})

t.test('process: no terminal and no --password-fd: exit 2 naming --password-fd', async (t) => {
  const { env, out } = setup(t)
  // detached: a new session, so there is no controlling terminal.
  const r = await runWithFd3(['--profile', 'admin', out('t.pkg')], env, undefined, { detached: true })
  t.equal(r.status, 2)
  t.equal(r.stderr, 'sysbackup-packcreds: no terminal to ask on (/dev/tty: ENXIO); give the password with --password-fd N\n')
  t.notOk(existsSync(out('t.pkg')))
})

t.test('process: wrong password, altered file, truncated file: distinct messages, exit 2', async (t) => {
  const { env, out } = setup(t)
  const made = await runWithFd3(['--profile', 'admin', '--password-fd', '3', out('w.pkg')], env, PASSWORD)
  t.equal(made.status, 0, made.stderr)
  const bytes = readFileSync(out('w.pkg'))
  const altered = Buffer.from(bytes)
  altered[100]! ^= 0x20
  writeFileSync(out('altered.pkg'), altered)
  writeFileSync(out('truncated.pkg'), bytes.subarray(0, bytes.length - 1))
  const cases: [string, string, string][] = [
    ['w.pkg', 'wrong password', `${out('w.pkg')}: wrong password, or the file has been altered (the two cannot be told apart)`],
    ['altered.pkg', PASSWORD, `${out('altered.pkg')}: wrong password, or the file has been altered (the two cannot be told apart)`],
    ['truncated.pkg', PASSWORD, `${out('truncated.pkg')}: truncated credentials package: the file is ${bytes.length - 1} bytes long, its header announces ${bytes.length}`],
  ]
  for (const [name, password, message] of cases) {
    const r = await runWithFd3(['--check', '--password-fd', '3', out(name)], env, password)
    t.same([r.status, r.stdout, r.stderr], [2, '', `sysbackup-packcreds: ${message}\n`], name)
  }
})

t.test('process: on a terminal the password is asked twice, with echo off', async (t) => {
  const { env, out } = setup(t)
  const cmd = (file: string) => `'${process.execPath}' '${BIN}' --profile admin '${file}'`
  const r = await runOnTerminal(cmd(out('tty.pkg')), env, [
    { expect: /Password for the new package tty\.pkg: $/, send: 'Tr0ub4dor&3x\x7f\r' },
    { expect: /Repeat the password: $/, send: 'Tr0ub4dor&3\r' },
  ])
  t.equal(r.status, 0, r.output)
  t.notMatch(r.output, /Tr0ub4dor/, 'nothing typed was echoed')
  t.match(r.output, /wrote .*tty\.pkg: access key AKIA…0001/)
  t.match(await open(out('tty.pkg'), 'Tr0ub4dor&3'), { accessKeyId: ADMIN.id }, 'the password as edited (a backspace) opens it')

  const differ = await runOnTerminal(cmd(out('differ.pkg')), env, [
    { expect: /new package differ\.pkg: $/, send: 'first password\r' },
    { expect: /Repeat the password: $/, send: 'second password\r' },
  ])
  t.equal(differ.status, 2)
  t.match(differ.output, /sysbackup-packcreds: the two passwords differ; nothing was written/)
  t.notOk(existsSync(out('differ.pkg')))

  const interrupted = await runOnTerminal(cmd(out('int.pkg')), env, [{ expect: /new package int\.pkg: $/, send: 'abc\x03' }])
  t.equal(interrupted.status, 130, 'Ctrl-C: exit 130')
  t.match(interrupted.output, /sysbackup-packcreds: interrupted/)
  t.notOk(existsSync(out('int.pkg')))

  const check = await runOnTerminal(`'${process.execPath}' '${BIN}' --check '${out('tty.pkg')}'`, env, [
    { expect: /Password for tty\.pkg: $/, send: 'Tr0ub4dor&3\r' },
  ])
  t.equal(check.status, 0, check.output)
  t.match(check.output, /access key: AKIA…0001/)
  t.notMatch(check.output, /Tr0ub4dor/)
})

t.test('process: no cleartext secret is written anywhere, by any syscall (strace)', async (t) => {
  const { env, out } = setup(t)
  // The tracer itself: a program that does write the secret is caught, to a file and to a pipe.
  const leak = await traceWrites(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(out('leak'))}, process.argv[1]); process.stderr.write(process.argv[1].slice(0, 10))`, ADMIN.secret])
  t.equal(leak.status, 0, leak.stderr)
  t.ok(leak.wrote(ADMIN.secret), 'a secret written to a file is seen')
  t.ok(leak.writes.some((w) => w.fd.startsWith('2<') && w.data.includes(ADMIN.secret.slice(0, 10))), 'and one written to stderr, with its descriptor')
  t.same(leak.created, [out('leak')], 'the file it created is seen')

  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')))
  const traced = await traceWrites(process.execPath, [BIN, '--profile', 'admin', '--bucket', 'b-1', '--password-fd', '3', out('traced.pkg')], {
    env: { ...clean, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, fd3: `${PASSWORD}\n`,
  })
  t.equal(traced.status, 0, traced.stderr)
  t.ok(traced.writes.length > 0, `${traced.writes.length} writes seen`)
  t.ok(traced.writes.some((w) => w.fd.includes('traced.pkg')), 'the package write itself was seen')
  t.notOk(traced.wrote(ADMIN.secret), 'the secret key was never written')
  t.notOk(traced.wrote(ADMIN.id), 'nor the key ID')
  t.notOk(traced.wrote(PASSWORD), 'nor the password')
  t.same(traced.created.filter((p) => !p.startsWith('/dev/') && !p.startsWith('/proc/')), [out('traced.pkg')], 'the only file created is the package')

  const checked = await traceWrites(process.execPath, [BIN, '--check', '--password-fd', '3', out('traced.pkg')], {
    env: { ...clean, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, fd3: PASSWORD,
  })
  t.equal(checked.status, 0, checked.stderr)
  t.notOk(checked.wrote(ADMIN.secret) || checked.wrote(ADMIN.id) || checked.wrote(PASSWORD), '--check writes no secret either')
  t.same(checked.created.filter((p) => !p.startsWith('/dev/') && !p.startsWith('/proc/')), [], '--check creates no file')
})
