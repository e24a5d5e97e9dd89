import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { OptionSpec, ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import { NODE_START_FLAGS } from '../cli/node-flags.js'
import type { CommandIO } from '../cli/stage.js'
import { validHostName } from '../config/host.js'
import { DEFAULT_CONFIG_DIR, DEFAULT_STATE_DIR, SCHEMA } from '../config/schema.js'
import { namedRegion, setupClients, type SetupClients } from '../setup/aws-clients.js'
import { ccryptEncrypt } from '../setup/ccrypt.js'
import { renderConf } from '../setup/conf-file.js'
import { gzipLevelOf, GZIP_LEVEL_OPTION } from '../stages/upload/gzip-level.js'
import { LIMIT_UPLOAD_OPTION, uploadLimitOf } from '../store/upload-limit.js'
import { renderCredentials, type AccessKey } from '../setup/credentials-file.js'
import { describeCall } from '../setup/describe-call.js'
import { describeEnable, enableTimer } from '../setup/enable-timer.js'
import { createBackupUser, describeBackupUserCalls, validIamUserName } from '../setup/iam-user.js'
import { DEFAULT_PACKAGE, validPackageName } from '../setup/package-name.js'
import { lookupUser } from '../setup/passwd.js'
import { readNewPasswordFromTerminal, readPasswordFromFd } from '../setup/read-password.js'
import { isDirectory, ROOT_OWNER, RootFiles, type Owner } from '../setup/root-files.js'
import { findProgram } from '../setup/run-program.js'
import { readPackageOutputs, type PackageOutputs } from '../setup/stack-outputs.js'
import { parseStart, parseWindow, renderService, renderTimer, unitBaseName, type UnitSettings } from '../setup/systemd-units.js'
import { describeVerify, verifyUnits } from '../setup/verify-units.js'

const DEFAULT_UNIT_DIR = '/etc/systemd/system'
const DEFAULT_USER = 'backup'
const DEFAULT_START = '01:00'
const DEFAULT_WINDOW = '4h'
/** The package's own launcher, run by the node running this command: both exist wherever this runs. */
const PACKAGE_BIN = fileURLToPath(new URL('../../bin/s3-sysbackup.js', import.meta.url))

const OPTIONS: OptionSpec[] = [
  { name: 'root', type: 'string', arg: 'DIR', help: 'write every file under DIR instead of / (an image, a package tree)' },
  { name: 'config', type: 'string', arg: 'DIR', help: `configuration directory to write (default ${DEFAULT_CONFIG_DIR})` },
  { name: 'package-name', type: 'string', arg: 'NAME', help: `package (CloudFormation stack) whose outputs to use (default ${DEFAULT_PACKAGE})` },
  { name: 'region', type: 'string', arg: 'REGION', help: 'AWS region of the package (default: AWS_REGION, then the profile)' },
  { name: 'no-stack', type: 'flag', help: "do not read the package's stack: take every setting from the options" },
  { name: 'bucket', type: 'string', arg: 'NAME', help: 'name the bucket in conf, instead of finding it through the export' },
  { name: 'export-name', type: 'string', arg: 'NAME', help: "export that names the bucket (default: the package's)" },
  { name: 'retention-days', type: 'number', arg: 'DAYS', help: "days each backup is retained (default: the package's RetentionDays)" },
  { name: 'lock-mode', type: 'string', arg: 'MODE', help: "Object Lock mode, GOVERNANCE or COMPLIANCE (default: the package's)" },
  { ...LIMIT_UPLOAD_OPTION, help: 'cap the bytes a second the daily run sends to the store, e.g. 512K, 4M ([s3] limit_upload; default: no limit)' },
  { ...GZIP_LEVEL_OPTION, help: 'zlib level of content worth compressing, 1 fastest to 9 smallest, 0 none ([content] gzip_level; default 1)' },
  { name: 'state-dir', type: 'string', arg: 'DIR', help: `state (cache) directory, owned by the backup user (default ${DEFAULT_STATE_DIR})` },
  { name: 'user', type: 'string', arg: 'NAME', help: `system user the backup runs as and who owns the credentials (default ${DEFAULT_USER})` },
  { name: 'host', type: 'string', arg: 'NAME', help: 'name this machine\'s backups are stored under, pinned in conf and tagged on the IAM user (default: the host name)' },
  { name: 'create-user', type: 'string', arg: 'NAME', help: "create IAM user NAME in the package's backup group, with an access key in CONFIG/aws-credentials" },
  { name: 'encrypted-creds', type: 'string', arg: 'FILE', help: 'also write the credentials encrypted with ccrypt(1) to FILE, for transfer' },
  { name: 'password-fd', type: 'number', arg: 'N', help: 'read the password for --encrypted-creds from file descriptor N (default: ask twice on the terminal)' },
  { name: 'exec', type: 'string', arg: 'COMMAND', help: 'command the service runs s3-sysbackup with (default: this node, with the flags the bin files give it, and this package)' },
  { name: 'unit-dir', type: 'string', arg: 'DIR', help: `directory for the systemd units (default ${DEFAULT_UNIT_DIR})` },
  { name: 'start', type: 'string', arg: 'HH:MM', help: `daily start of the timer's window (default ${DEFAULT_START})` },
  { name: 'window', type: 'string', arg: 'SPAN', help: `length of the window in which the run starts at random (default ${DEFAULT_WINDOW})` },
  { name: 'no-enable', type: 'flag', help: 'do not enable the timer' },
  { name: 'no-verify', type: 'flag', help: 'do not check the units with systemd-analyze verify' },
  { name: 'dry-run', type: 'flag', help: 'print every file and AWS request that would be made, and make none' },
  { name: 'force', type: 'flag', help: 'replace files that exist' },
]

interface Options {
  root: string
  configDir: string
  packageName: string
  region: string | undefined
  useStack: boolean
  bucket: string | undefined
  exportName: string | undefined
  retentionDays: number | undefined
  lockMode: string | undefined
  limitUpload: string | undefined
  gzipLevel: number | undefined
  stateDir: string
  user: string
  createUser: string | undefined
  /** The host name, and whether --host gave it (then it is pinned in conf even without --create-user). */
  host: string
  hostGiven: boolean
  encryptedCreds: string | undefined
  passwordFd: number | undefined
  exec: string
  unitDir: string
  start: string
  window: string
  enable: boolean
  verify: boolean
  dryRun: boolean
  force: boolean
}

function absoluteOption(args: ParsedArgs, name: string, fallback: string): string {
  const value = args.string(name) ?? fallback
  if (!isAbsolute(value)) throw new UsageError(`--${name}: "${value}" must be an absolute path (as the target system sees it)`)
  return value
}

function readOptions(args: ParsedArgs, env: NodeJS.ProcessEnv): Options {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
  const root = resolve(args.string('root') ?? '/')
  if (!isDirectory(root)) throw new UsageError(`--root: ${root} is not a directory`)
  const packageName = args.string('package-name') ?? DEFAULT_PACKAGE
  if (!validPackageName(packageName)) throw new UsageError(`--package-name: "${packageName}" is not a valid stack name`)
  const days = args.number('retention-days')
  if (days !== undefined && (!Number.isInteger(days) || days < 1)) throw new UsageError(`--retention-days: ${days} is not a whole number of days, 1 or more`)
  const lockMode = args.choice('lock-mode', SCHEMA.content.lock_mode.values)
  const limitUpload = args.string('limit-upload')
  // Checked here, so that no conf is written that every run would refuse.
  if (limitUpload !== undefined) uploadLimitOf(limitUpload, undefined, 'conf')
  const gzipLevel = gzipLevelOf(args.number('gzip-level'))
  const createUser = args.string('create-user')
  if (createUser !== undefined && !validIamUserName(createUser)) {
    throw new UsageError(`--create-user: "${createUser}" is not a valid IAM user name (up to 64 of letters, digits and +=,.@_-)`)
  }
  const host = args.string('host') ?? hostname()
  if (!validHostName(host)) throw new UsageError(`${args.has('host') ? '--host' : 'the host name'}: "${host}" cannot name a host in the store (up to 128 letters, digits, ".", "_" and "-"); give --host NAME`)
  const useStack = !args.flag('no-stack')
  if (createUser !== undefined && !useStack) throw new UsageError('--create-user needs the package\'s stack (its backup group); drop --no-stack')
  const encryptedCreds = args.string('encrypted-creds')
  if (encryptedCreds !== undefined && createUser === undefined) {
    throw new UsageError('--encrypted-creds encrypts the credentials that --create-user makes; give --create-user NAME')
  }
  const passwordFd = args.number('password-fd')
  if (passwordFd !== undefined) {
    if (encryptedCreds === undefined) throw new UsageError('--password-fd is the password for --encrypted-creds; give --encrypted-creds FILE')
    if (!Number.isInteger(passwordFd) || passwordFd < 0) throw new UsageError(`--password-fd: ${passwordFd} is not a file descriptor number`)
  }
  const exec = args.string('exec') ?? [process.execPath, ...NODE_START_FLAGS, PACKAGE_BIN].join(' ')
  const program = exec.trim().split(/\s+/)[0] ?? ''
  if (!isAbsolute(program)) throw new UsageError(`--exec: "${program}" must be an absolute path (systemd runs it without a shell)`)
  return {
    root,
    configDir: absoluteOption(args, 'config', DEFAULT_CONFIG_DIR),
    packageName,
    region: namedRegion(args.string('region'), env),
    useStack,
    bucket: args.string('bucket'),
    exportName: args.string('export-name'),
    retentionDays: days,
    lockMode,
    limitUpload,
    gzipLevel,
    stateDir: absoluteOption(args, 'state-dir', DEFAULT_STATE_DIR),
    user: args.string('user') ?? DEFAULT_USER,
    createUser,
    host,
    hostGiven: args.has('host'),
    encryptedCreds: encryptedCreds === undefined ? undefined : resolve(encryptedCreds),
    passwordFd,
    exec: exec.trim(),
    unitDir: absoluteOption(args, 'unit-dir', DEFAULT_UNIT_DIR),
    start: parseStart(args.string('start') ?? DEFAULT_START),
    window: parseWindow(args.string('window') ?? DEFAULT_WINDOW),
    enable: !args.flag('no-enable'),
    verify: !args.flag('no-verify'),
    dryRun: args.flag('dry-run'),
    force: args.flag('force'),
  }
}

/** The example picker: /etc, less the cleartext credentials (not needed to restore, never to sit in the bucket). */
function examplePicker(credentialsFile: string): string {
  return `#!/bin/sh
# An example picker, written by s3-sysbackup write-config: it prints the
# paths to back up, one per line (see s3-sysbackup.conf(5), pickers.d).
# Edit it, add others beside it, or remove it.
exec find /etc -xdev ! -path ${credentialsFile}
`
}

async function writeConfig(args: ParsedArgs, io: CommandIO): Promise<number> {
  const o = readOptions(args, io.env)
  const log = (line: string) => io.stdout.write(line + '\n')
  const account = lookupUser(o.root, o.user)
  const userOwner: Owner = { uid: account.uid, gid: account.gid, label: `${account.name}:${account.group}` }
  const ccrypt = o.encryptedCreds === undefined ? null : findProgram('ccrypt', io.env)
  const bash = o.encryptedCreds === undefined ? null : findProgram('bash', io.env)
  if (o.encryptedCreds !== undefined && ccrypt === null) {
    throw new UsageError('--encrypted-creds needs the ccrypt program, which is not on PATH (Debian and Ubuntu: apt-get install ccrypt)')
  }
  if (o.encryptedCreds !== undefined && bash === null) throw new UsageError('--encrypted-creds needs bash (to hand ccrypt its key through a pipe), which is not on PATH')
  const systemctl = o.enable ? findProgram('systemctl', io.env) : null
  if (o.enable && systemctl === null) throw new UsageError('systemctl is not on PATH, so the timer cannot be enabled; give --no-enable')

  // Everything to write, checked before anything is done.
  const base = unitBaseName(o.packageName)
  const credentialsFile = join(o.configDir, 'aws-credentials')
  const files = new RootFiles(o.root)
  files.dir(o.configDir, 0o755, ROOT_OWNER)
  const conf = files.file(join(o.configDir, 'conf'), 0o644, ROOT_OWNER)
  files.dir(join(o.configDir, 'pickers.d'), 0o755, ROOT_OWNER)
  files.file(join(o.configDir, 'pickers.d', '10-etc'), 0o755, ROOT_OWNER, examplePicker(credentialsFile))
  files.dir(join(o.configDir, 'snapshots.d'), 0o755, ROOT_OWNER)
  const creds = o.createUser === undefined ? undefined : files.file(credentialsFile, 0o600, userOwner)
  files.dir(o.stateDir, 0o700, userOwner)
  const unitSettings: UnitSettings = {
    packageName: o.packageName, exec: o.exec, user: account.name, configDir: o.configDir, stateDir: o.stateDir, start: o.start, window: o.window,
  }
  const units = [
    { name: `${base}.service`, content: renderService(unitSettings) },
    { name: `${base}.timer`, content: renderTimer(unitSettings) },
  ]
  for (const unit of units) files.file(join(o.unitDir, unit.name), 0o644, ROOT_OWNER, unit.content)
  files.check(o.force)
  if (o.encryptedCreds !== undefined && !o.force && existsSync(o.encryptedCreds)) {
    throw new UsageError(`${o.encryptedCreds} exists already; nothing written (--force replaces)`)
  }
  const ccryptLine = `file ${o.encryptedCreds} 0600 (ccrypt --encrypt, key through a pipe)`

  if (o.dryRun) {
    const lines: string[] = []
    if (o.useStack) lines.push(describeCall('cloudformation', 'DescribeStacks', { StackName: o.packageName, Region: o.region ?? '(region from the AWS profile)' }))
    if (o.verify) lines.push(describeVerify(units))
    if (o.createUser !== undefined) {
      lines.push(...describeBackupUserCalls({ userName: o.createUser, groupName: `<BackupGroupName output of ${o.packageName}>`, packageName: o.packageName, host: o.host }))
    }
    for (const entry of files.entries) lines.push(files.describe(entry))
    if (o.encryptedCreds !== undefined) lines.push(ccryptLine)
    if (o.enable) lines.push(describeEnable(o.root, `${base}.timer`))
    io.stdout.write(lines.join('\n') + '\n')
    return EXIT.OK
  }

  // The password comes first: a typo must not leave an IAM user behind.
  let password: string | undefined
  if (o.encryptedCreds !== undefined) {
    password = o.passwordFd !== undefined ? readPasswordFromFd(o.passwordFd) : await readNewPasswordFromTerminal('the encrypted credentials')
  }

  let clients: SetupClients | undefined
  let outputs: PackageOutputs = {}
  let region = o.region
  if (o.useStack) {
    clients = setupClients(o.region)
    outputs = await readPackageOutputs(clients.cloudformation, o.packageName)
    region ??= await clients.cloudformation.config.region()
    log(describeCall('cloudformation', 'DescribeStacks', { StackName: o.packageName, Region: region }))
  }
  if (o.lockMode !== undefined && outputs.lockMode !== undefined && o.lockMode !== outputs.lockMode) {
    throw new UsageError(`--lock-mode ${o.lockMode} differs from package ${o.packageName}'s ${outputs.lockMode}: its bucket refuses other modes`)
  }
  if (o.createUser !== undefined && outputs.backupGroupName === undefined) {
    throw new UsageError(`package ${o.packageName} has no BackupGroupName output, so --create-user has no group to join`)
  }

  if (o.verify) {
    const outcome = await verifyUnits(units, io.env)
    if (outcome.kind === 'rejected') {
      for (const message of outcome.messages.slice(1)) io.stderr.write(`systemd-analyze: ${message}\n`)
      throw new UsageError(`systemd-analyze verify rejects the units, nothing written: ${outcome.messages[0] ?? ''}`)
    }
    if (outcome.kind === 'unavailable') io.stderr.write('s3-sysbackup write-config: warning: systemd-analyze is not on PATH; the units were not verified\n')
    else log(describeVerify(units))
  }

  let key: AccessKey | undefined
  if (o.createUser !== undefined) {
    key = await createBackupUser(clients!.iam, { userName: o.createUser, groupName: outputs.backupGroupName!, packageName: o.packageName, host: o.host }, log)
    if (outputs.backupRoleArn === undefined) {
      io.stderr.write(`s3-sysbackup write-config: warning: package ${o.packageName} has no BackupRoleArn output; conf has no role_arn to assume\n`)
    }
  }
  conf.content = renderConf({
    packageName: o.packageName,
    ...(key ? { credentialsFile, iamUser: key.userName } : {}),
    ...(key && outputs.backupRoleArn ? { roleArn: outputs.backupRoleArn } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(o.bucket !== undefined ? { bucket: o.bucket } : {}),
    ...(o.exportName ?? outputs.exportName ? { exportName: o.exportName ?? outputs.exportName } : {}),
    ...(o.retentionDays ?? outputs.retentionDays ? { daysRetained: o.retentionDays ?? outputs.retentionDays } : {}),
    ...(o.lockMode ?? outputs.lockMode ? { lockMode: o.lockMode ?? outputs.lockMode } : {}),
    ...(o.limitUpload !== undefined ? { limitUpload: o.limitUpload } : {}),
    ...(o.gzipLevel !== undefined ? { gzipLevel: o.gzipLevel } : {}),
    stateDir: o.stateDir,
    ...(key || o.hostGiven ? { host: o.host } : {}),
  })
  if (creds && key) creds.content = renderCredentials(key, outputs.backupGroupName)

  for (const entry of files.entries) log(files.apply(entry, o.force))
  if (o.encryptedCreds !== undefined && creds?.content !== undefined) {
    await ccryptEncrypt(ccrypt!, bash!, creds.content, password!, o.encryptedCreds, o.force)
    log(ccryptLine)
  }
  if (o.enable) log(await enableTimer(systemctl!, o.root, `${base}.timer`, io.env))
  return EXIT.OK
}

/** `s3-sysbackup write-config`: a machine's configuration, credentials and timer. */
export const writeConfigCommand: CommandSpec = {
  name: 's3-sysbackup write-config',
  synopsis: '[--create-user NAME [--encrypted-creds FILE]] [--root DIR] [--package-name NAME] [options]',
  summary: "Write the configuration directory (conf, pickers.d, snapshots.d) from the options and the package's stack outputs, optionally an IAM user's credentials, and the systemd service and daily timer that run s3-sysbackup archive; enable the timer. Existing files are kept unless --force.",
  options: OPTIONS,
  manPage: 's3-sysbackup-write-config(1)',
  main: writeConfig,
}
