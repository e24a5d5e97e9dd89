import type { OptionSpec, ParsedArgs } from '../cli/args.js'
import { UsageError } from '../cli/errors.js'
import type { CommandIO } from '../cli/stage.js'
import { loadConfig, type LoadedConfig } from '../config/load-config.js'
import { scrubbedEnvironment } from '../creds/child-environment.js'
import { terminalTokenPrompt } from '../creds/mfa-token-prompt.js'
import { openCredentialsPackage } from '../creds/package-file.js'
import { PASSWORD_FD_OPTION, passwordSourceFromArgs } from '../creds/password-input.js'
import type { CredentialsPayload } from '../creds/payload.js'
import { restoreCredentialProvider, type RestoreCredentialProvider } from '../creds/restore-session.js'
import { openStore, STORE_OPTION } from '../store/open-store.js'
import type { Store } from '../store/store.js'

/** How list and restore reach the store: configuration, a local store, or a credentials package. */
export const STORE_ACCESS_OPTIONS: OptionSpec[] = [
  { name: 'config', alias: 'c', type: 'string', arg: 'DIR', help: 'configuration directory naming the store (default $S3_SYSBACKUP_CONFIG or /etc/backup; absent: built-in defaults)' },
  STORE_OPTION,
  { name: 'creds', type: 'string', arg: 'FILE', help: 'use the credentials package FILE (s3-sysbackup pack-creds): decrypted in memory only; its restore role is assumed' },
  PASSWORD_FD_OPTION,
  { name: 'role-arn', type: 'string', arg: 'ARN', help: 'with --creds: assume this role (default: the package\'s, else DataRestoreRole-PACKAGE)' },
  { name: 'mfa-serial', type: 'string', arg: 'SERIAL', help: 'with --creds: the MFA device whose code is asked on the terminal (default: the package\'s)' },
  { name: 'package-name', type: 'string', arg: 'NAME', help: 'with --creds: the resource package whose DataRestoreRole-NAME to assume (default: the package\'s, else s3-sysbackup)' },
]

const CREDS_ONLY = ['password-fd', 'role-arn', 'mfa-serial', 'package-name'] as const

/** An opened store, and what a restore must keep away from its child processes. */
export interface RestoreStore {
  store: Store
  config: LoadedConfig
  /** The environment for child processes: `env` without AWS credentials nor any secret in use. */
  childEnv(): Promise<NodeJS.ProcessEnv>
  /** The credentials provider of --creds, when given. */
  provider?: RestoreCredentialProvider
}

/** Test seams. */
export interface RestoreStoreDeps {
  /** Asks for an MFA code (default: on the controlling terminal). */
  tokenPrompt?: (mfaSerial: string) => Promise<string>
}

/**
 * Opens the store to read backups from, as the options say: `--store DIR`
 * (a local directory store), else `--creds FILE` (a credentials package:
 * opened with its password, in memory only; the restore role is assumed
 * through STS and renewed while the command runs; the bucket is the
 * package's, else the configuration's, else the CloudFormation export),
 * else the configuration's `[aws]` and `[s3]` settings. Checks the option
 * combinations first (UsageError, exit 2).
 */
export async function openRestoreStore(args: ParsedArgs, io: CommandIO, deps: RestoreStoreDeps = {}): Promise<RestoreStore> {
  const credsFile = args.string('creds')
  if (credsFile === undefined) {
    const stray = CREDS_ONLY.find((o) => args.has(o))
    if (stray !== undefined) throw new UsageError(`--${stray} is used only with --creds FILE`)
  } else if (args.has('store')) {
    throw new UsageError('give --creds FILE or --store DIR, not both (a local store needs no credentials)')
  }
  const config = loadConfig(args.string('config'), io.env)
  if (credsFile === undefined) {
    const store = await openStore(config, { env: io.env, ...(args.string('store') !== undefined && { storeDir: args.string('store')! }) })
    return { store, config, childEnv: async () => scrubbedEnvironment(io.env) }
  }
  const passwordSource = passwordSourceFromArgs(args)
  const pkg = await openCredentialsPackage(credsFile, passwordSource)
  const provider = restoreCredentialProvider(pkg, {
    ...(args.string('role-arn') !== undefined && { roleArn: args.string('role-arn')! }),
    ...(args.string('mfa-serial') !== undefined && { mfaSerial: args.string('mfa-serial')! }),
    ...(args.string('package-name') !== undefined && { packageName: args.string('package-name')! }),
    tokenPrompt: deps.tokenPrompt ?? terminalTokenPrompt(),
  })
  const withPackage = packageConfig(config, pkg)
  const store = await openStore(withPackage, {
    env: io.env,
    awsAccess: {
      credentials: provider,
      ...(pkg.region !== undefined && { region: pkg.region }),
      source: `the credentials package ${credsFile}`,
    },
  })
  return {
    store,
    config: withPackage,
    provider,
    async childEnv() {
      const current = await provider().catch(() => undefined)
      const secrets = [pkg.secretAccessKey, pkg.accessKeyId, current?.secretAccessKey, current?.sessionToken, current?.accessKeyId]
      return scrubbedEnvironment(io.env, secrets.filter((s): s is string => s !== undefined))
    },
  }
}

/** The configuration with the package's bucket (or CloudFormation export) in force. */
function packageConfig(config: LoadedConfig, pkg: CredentialsPayload): LoadedConfig {
  const s3 = { ...config.values.s3 }
  const cloudformation = { ...config.values.cloudformation }
  if (pkg.bucket !== undefined) {
    s3.bucket = pkg.bucket
  } else if (pkg.cfnExport !== undefined && s3.bucket === undefined) {
    cloudformation.export = pkg.cfnExport
    if (pkg.cfnRegion !== undefined) cloudformation.region = pkg.cfnRegion
  }
  return { ...config, values: { ...config.values, s3, cloudformation } }
}
