import { lstatSync } from 'node:fs'
import { basename } from 'node:path'
import type { OptionSpec, ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { resolveCredentialsToPack } from '../creds/credentials-to-pack.js'
import { DEFAULT_KDF, kdfMemoryBytes, type KdfParams } from '../creds/kdf.js'
import { sealPackage } from '../creds/package-crypto.js'
import { openCredentialsPackage, readPackageFile, writePackageFile } from '../creds/package-file.js'
import { FORMAT_VERSION, parsePackage } from '../creds/package-format.js'
import { PASSWORD_FD_OPTION, passwordSourceFromArgs, readPassword } from '../creds/password-input.js'
import type { CredentialsPayload } from '../creds/payload.js'
import { DEFAULT_PACKAGE_NAME, RESTORE_ROLE_PREFIX } from '../creds/restore-session.js'

export const PACK_CREDS_OPTIONS: OptionSpec[] = [
  { name: 'profile', type: 'string', arg: 'NAME', help: 'pack the credentials of this AWS profile (default: the standard credential chain)' },
  { name: 'config', type: 'string', arg: 'DIR', help: 'pack the credentials named by the [aws] settings of this configuration directory, with its region and bucket' },
  { name: 'region', type: 'string', arg: 'REGION', help: 'record this AWS region (default: the configuration\'s, AWS_REGION, or the profile\'s)' },
  { name: 'role-arn', type: 'string', arg: 'ARN', help: 'record the role a restore assumes (default at restore: DataRestoreRole-PACKAGE in the key\'s account)' },
  { name: 'package-name', type: 'string', arg: 'NAME', help: `record the resource package whose restore role to assume (default ${DEFAULT_PACKAGE_NAME})` },
  { name: 'bucket', type: 'string', arg: 'BUCKET', help: 'record the bucket holding the backups' },
  { name: 'cfn-export', type: 'string', arg: 'NAME', help: 'record the CloudFormation export naming the bucket (instead of --bucket)' },
  { name: 'cfn-region', type: 'string', arg: 'REGION', help: 'record the region of the CloudFormation stack with that export' },
  { name: 'mfa-serial', type: 'string', arg: 'SERIAL', help: 'record the MFA device (serial number or ARN) whose code a restore asks for' },
  PASSWORD_FD_OPTION,
  { name: 'check', type: 'flag', help: 'write nothing: open the existing package FILE with its password and show what it holds (never the secret key)' },
]

const PATTERNS: Record<string, [RegExp, string]> = {
  'region': [/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1'],
  'cfn-region': [/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1'],
  'role-arn': [/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)'],
  'package-name': [/^[A-Za-z][A-Za-z0-9-]{0,47}$/, 'a resource package name (a letter, then letters, digits or hyphens; at most 48)'],
  'bucket': [/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'],
  'cfn-export': [/^[\w:.-]{1,255}$/, 'a CloudFormation export name'],
  'mfa-serial': [/^[\w+=/:,.@-]{9,256}$/, 'an MFA device serial number or ARN'],
}

/** Test seams: the registered commands use the defaults. */
export interface PackCredsDeps {
  /** Key derivation parameters (tests use cheap ones); DEFAULT_KDF otherwise. */
  kdf?: KdfParams
  now?: () => Date
}

/**
 * The pack-creds command under a given name: `s3-sysbackup pack-creds` and
 * `sysbackup-packcreds` are the same program. Exit status 0 when the
 * package was written; 2 for bad options, no or short-lived credentials,
 * an existing FILE, a bad password or no terminal (nothing written); 3 when
 * writing failed (the partial file is removed); 130 for Ctrl-C at a prompt.
 */
export function packCredsCommand(name: string, manPage: string, deps: PackCredsDeps = {}): CommandSpec {
  return {
    name,
    synopsis: '[--profile NAME | --config DIR] [--password-fd N] [options] FILE\n       ' + name + ' --check [--password-fd N] FILE',
    summary:
      'Encrypt the AWS credentials in use (an IAM user\'s long-lived access key) under a password\n' +
      'into FILE, a new credentials package (mode 0600) for restoring a machine from scratch with\n' +
      '"s3-sysbackup restore --creds FILE". The password is asked twice on the terminal with echo\n' +
      'off, or read from --password-fd N; never from an argument or the environment.',
    options: PACK_CREDS_OPTIONS,
    manPage,
    main: (args, io) => packCreds(name, args, io, deps),
  }
}

export const packCredsSubcommand = packCredsCommand('s3-sysbackup pack-creds', 's3-sysbackup-pack-creds(1)')
export const packCredsTool = packCredsCommand('sysbackup-packcreds', 'sysbackup-packcreds(1)')

async function packCreds(name: string, args: ParsedArgs, io: CommandIO, deps: PackCredsDeps): Promise<number> {
  const [file, ...extra] = args.positionals
  if (file === undefined) throw new UsageError('missing FILE: where to write the package (see --help)')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (give one FILE)`)
  if (args.flag('check')) {
    const packing = PACK_CREDS_OPTIONS.find((o) => o.name !== 'check' && o !== PASSWORD_FD_OPTION && args.has(o.name))
    if (packing) throw new UsageError(`--check takes only --password-fd and FILE, not --${packing.name}`)
    return checkPackage(file, args, io)
  }
  for (const [option, [pattern, what]] of Object.entries(PATTERNS)) {
    const value = args.string(option)
    if (value !== undefined && !pattern.test(value)) throw new UsageError(`option --${option}: "${value}" is not ${what}`)
  }
  if (args.has('bucket') && args.has('cfn-export')) throw new UsageError('give --bucket or --cfn-export, not both')
  const passwordSource = passwordSourceFromArgs(args)
  // Checked again, atomically, when the file is created; this spares asking for a password in vain.
  if (exists(file)) throw new UsageError(`${file}: already exists; refusing to overwrite it`)

  const source = await resolveCredentialsToPack({ profile: args.string('profile'), configDir: args.string('config'), env: io.env })
  const payload: CredentialsPayload = {
    accessKeyId: source.accessKeyId,
    secretAccessKey: source.secretAccessKey,
    createdAt: (deps.now?.() ?? new Date()).toISOString(),
  }
  const region = args.string('region') ?? source.region
  if (region !== undefined) payload.region = region
  const given = (option: string, field: keyof CredentialsPayload) => {
    const value = args.string(option)
    if (value !== undefined) payload[field] = value
  }
  given('role-arn', 'roleArn')
  given('package-name', 'packageName')
  given('mfa-serial', 'mfaSerial')
  if (args.has('bucket') || args.has('cfn-export')) {
    given('bucket', 'bucket')
    given('cfn-export', 'cfnExport')
  } else if (source.bucket !== undefined) {
    payload.bucket = source.bucket
  } else if (source.cfnExport !== undefined) {
    payload.cfnExport = source.cfnExport
  }
  const cfnRegion = args.string('cfn-region') ?? (payload.cfnExport !== undefined ? source.cfnRegion : undefined)
  if (cfnRegion !== undefined) payload.cfnRegion = cfnRegion

  const kdf = deps.kdf ?? DEFAULT_KDF
  const password = await readPassword(passwordSource, { prompt: `Password for the new package ${basename(file)}: `, isNew: true })
  let bytes: Buffer
  try {
    if (io.stderr.isTTY) io.stderr.write(`${name}: deriving the key (scrypt, ${Math.round(kdfMemoryBytes(kdf) / 1024 ** 2)} MiB)…\n`)
    bytes = await sealPackage(payload, password, { kdf })
  } finally {
    password.fill(0)
  }
  writePackageFile(file, bytes)
  io.stderr.write(`${name}: wrote ${file}: ${describe(payload, source.description)}\n`)
  return EXIT.OK
}

/** `--check`: opens FILE and prints what it holds, one `field: value` line each. */
async function checkPackage(file: string, args: ParsedArgs, io: CommandIO): Promise<number> {
  const { header } = parsePackage(readPackageFile(file), file)
  const p = await openCredentialsPackage(file, passwordSourceFromArgs(args))
  const { log2N, r, p: parallel } = header.kdf
  const lines: [string, string | undefined][] = [
    ['file', file],
    ['format', `version ${FORMAT_VERSION}, scrypt N=2^${log2N} r=${r} p=${parallel}, AES-256-GCM`],
    ['created', p.createdAt],
    ['access key', `${p.accessKeyId.slice(0, 4)}…${p.accessKeyId.slice(-4)}`],
    ['region', p.region],
    ['role', p.roleArn],
    ['package name', p.packageName],
    ['bucket', p.bucket],
    ['cloudformation export', p.cfnExport],
    ['cloudformation region', p.cfnRegion],
    ['mfa serial', p.mfaSerial],
  ]
  io.stdout.write(lines.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}\n`).join(''))
  return EXIT.OK
}

/** What the package holds, for the closing message (the key ID shortened, never the secret). */
function describe(p: CredentialsPayload, from: string): string {
  const parts = [`access key ${p.accessKeyId.slice(0, 4)}…${p.accessKeyId.slice(-4)} from ${from}`]
  parts.push(`region ${p.region ?? '(none: a restore will need --region)'}`)
  parts.push(`role ${p.roleArn ?? `${RESTORE_ROLE_PREFIX}${p.packageName ?? DEFAULT_PACKAGE_NAME} of the key's account`}`)
  if (p.bucket !== undefined) parts.push(`bucket ${p.bucket}`)
  if (p.cfnExport !== undefined) parts.push(`CloudFormation export ${p.cfnExport}${p.cfnRegion !== undefined ? ` in ${p.cfnRegion}` : ''}`)
  if (p.mfaSerial !== undefined) parts.push(`MFA device ${p.mfaSerial}`)
  return parts.join('; ')
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}
