import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fromIni, fromNodeProviderChain } from '@aws-sdk/credential-providers'
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types'
import ini from 'ini'
import { ConfigError } from '../cli/errors.js'
import { loadConfig } from '../config/load-config.js'

// NOTE: src/aws/credentials.ts (the backup side's [aws] settings) resolves the
// same settings; this small function should be merged with it.

/** Where to take the credentials to pack from; at most profile and configDir together. */
export interface PackSourceOptions {
  /** `--profile`: a profile of the standard AWS files (or of the configuration's credentials_file). */
  profile?: string
  /** `--config`: a configuration directory whose `[aws]` credentials_file and profile name the credentials. */
  configDir?: string
  /** The environment: AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, AWS_PROFILE, AWS_REGION, HOME. */
  env: NodeJS.ProcessEnv
}

/** Long-lived credentials found for packing, and what else their source says. */
export interface PackSource {
  accessKeyId: string
  secretAccessKey: string
  /** Where they came from, for messages: `profile "admin"`, `the standard credential chain`, … */
  description: string
  /** The region the source configures, if any (configuration [aws] region, AWS_REGION, the profile's region). */
  region?: string
  /** From the configuration directory: [s3] bucket, or [cloudformation] export and region. */
  bucket?: string
  cfnExport?: string
  cfnRegion?: string
}

/**
 * Resolves "the credentials in use" for packing, with the SDK's own
 * providers: the `[aws]` settings of `configDir` (credentials_file with
 * profile, or a standard profile), else `profile`, else the standard chain
 * (environment, shared files, SSO, process, instance roles…). `profile`
 * overrides the configuration's profile. The configuration's role_arn is
 * not assumed: a package holds the long-lived key itself.
 *
 * Throws ConfigError when nothing is found, when the source fails, and
 * when the credentials are short-lived (a session token or an expiration,
 * or an `ASIA…` key): such a package would be useless by the time of a
 * restore.
 */
export async function resolveCredentialsToPack(options: PackSourceOptions): Promise<PackSource> {
  const { env } = options
  const home = env.HOME ?? homedir()
  const standardCredentials = env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials')
  const standardConfig = env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config')

  const extras: Omit<PackSource, 'accessKeyId' | 'secretAccessKey' | 'description'> = {}
  let profile = options.profile
  let credentialsFile: string | undefined
  if (options.configDir !== undefined) {
    const config = loadConfig(options.configDir, env)
    const v = config.values
    profile ??= v.aws.profile
    credentialsFile = v.aws.credentials_file
    if (credentialsFile !== undefined && !existsSync(credentialsFile)) {
      throw new ConfigError(`${config.file}: [aws] credentials_file ${credentialsFile}: no such file`)
    }
    if (v.aws.region !== undefined) extras.region = v.aws.region
    if (v.s3.bucket !== undefined) {
      extras.bucket = v.s3.bucket
    } else {
      extras.cfnExport = v.cloudformation.export
      if (v.cloudformation.region !== undefined) extras.cfnRegion = v.cloudformation.region
    }
  }

  let provider: AwsCredentialIdentityProvider
  let description: string
  if (credentialsFile !== undefined) {
    profile ??= 'default'
    description = `profile "${profile}" of ${credentialsFile}`
    provider = fromIni({ profile, filepath: credentialsFile, configFilepath: standardConfig, ignoreCache: true })
  } else if (profile !== undefined) {
    description = `profile "${profile}"`
    provider = fromIni({ profile, filepath: standardCredentials, configFilepath: standardConfig, ignoreCache: true })
  } else {
    description = 'the standard credential chain'
    provider = fromNodeProviderChain({ filepath: standardCredentials, configFilepath: standardConfig, ignoreCache: true })
  }

  let found: AwsCredentialIdentity
  try {
    found = await provider()
  } catch (err) {
    throw new ConfigError(`no credentials from ${description}: ${oneLine((err as Error).message)}`)
  }
  refuseShortLived(found, description)

  extras.region ??= env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? profileRegion(standardConfig, profile ?? env.AWS_PROFILE ?? 'default')
  return { accessKeyId: found.accessKeyId, secretAccessKey: found.secretAccessKey, description, ...dropUndefined(extras) }
}

/** Throws ConfigError when the credentials carry a session token or an expiration, or are an `ASIA…` (temporary) key. */
export function refuseShortLived(credentials: AwsCredentialIdentity, description: string): void {
  const temporaryKey = credentials.accessKeyId.startsWith('ASIA')
  if (credentials.sessionToken === undefined && credentials.expiration === undefined && !temporaryKey) return
  const why = credentials.expiration !== undefined
    ? `they expire at ${credentials.expiration.toISOString()}`
    : credentials.sessionToken !== undefined ? 'they carry a session token' : `${credentials.accessKeyId.slice(0, 4)}… is a temporary key`
  throw new ConfigError(
    `${description} gives short-lived credentials (${why}), which would be useless by the time of a restore; ` +
    'pack an IAM user\'s long-lived access key instead, e.g. one made by "s3-sysbackup write-config --create-user"',
  )
}

/** The `region` of a profile in an AWS config file (`[default]` or `[profile NAME]`), if it sets one. */
function profileRegion(configFile: string, profile: string): string | undefined {
  let text: string
  try {
    text = readFileSync(configFile, 'utf8')
  } catch {
    return undefined
  }
  const parsed = ini.parse(text) as Record<string, Record<string, unknown> | undefined>
  const section = profile === 'default' ? parsed.default ?? parsed['profile default'] : parsed[`profile ${profile}`]
  const region = section?.region
  return typeof region === 'string' && region.trim() !== '' ? region.trim() : undefined
}

function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
