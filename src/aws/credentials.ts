/**
 * Who s3-sysbackup is to AWS: credentials and region from the `[aws]`
 * section, shared by every AWS client (S3, CloudFormation, STS) and by the
 * commands that package or use credentials (pack-creds, restore).
 *
 * The ways of giving credentials, in the seed's terms:
 * - nothing: the SDK's default chain (environment, ~/.aws files with
 *   AWS_PROFILE, SSO, container and instance roles);
 * - `profile`: that profile of the standard files (~/.aws/credentials and
 *   ~/.aws/config), which may itself assume a role (role_arn +
 *   source_profile) — so `role_arn` is not needed there;
 * - `credentials_file` (+ `profile`, default `default`): that file only,
 *   read with the SDK's ini provider; the standard files are not consulted;
 * - `credentials_file` + `role_arn`: the file's credentials assume the role
 *   through STS (AssumeRole, renewed before it expires), with the host
 *   session tag (see backupSessionParams).
 * `role_arn` without `credentials_file` is a configuration error.
 */
import { readFileSync } from 'node:fs'
import ini from 'ini'
import { fromIni, fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers'
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types'
import { ConfigError, FatalError } from '../cli/errors.js'
import { HOST_TAG, resolveHost } from '../config/host.js'
import type { LoadedConfig } from '../config/load-config.js'

export interface AwsAccess {
  /** Credentials for any AWS client; errors resolving them are FatalErrors naming the source. */
  credentials: AwsCredentialIdentityProvider
  /** A standard profile, passed to clients so they also take its region. */
  profile?: string
  /** `[aws] region`, when set; otherwise clients take the profile's or AWS_REGION. */
  region?: string
  /** Where the credentials come from, for messages: `profile "x" of /etc/backup/creds, assuming role …`. */
  source: string
}

/**
 * The AssumeRole parameters of a host's backup session: the session name
 * shows in CloudTrail which machine acted, and the host session tag is what
 * the package's backup role requires (equal to the IAM user's own host
 * tag) and what its policies confine the session to (manifests/<host>/,
 * snapshots/<host>/).
 */
export function backupSessionParams(roleArn: string, host: string): { RoleArn: string, RoleSessionName: string, Tags: { Key: string, Value: string }[] } {
  return {
    RoleArn: roleArn,
    RoleSessionName: `s3-sysbackup-${host}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64),
    Tags: [{ Key: HOST_TAG, Value: host }],
  }
}

/**
 * The credentials and region the `[aws]` section describes. Checks what can
 * be checked without a request: role_arn needs credentials_file, which must
 * be readable and hold the profile. Throws ConfigError naming the conf file
 * and setting.
 */
export function awsAccess(config: LoadedConfig): AwsAccess {
  const { profile, credentials_file: credentialsFile, role_arn: roleArn, region } = config.values.aws
  const conf = config.file ?? 'configuration'
  if (roleArn !== undefined && credentialsFile === undefined) {
    throw new ConfigError(`${conf}: [aws] role_arn is used only with [aws] credentials_file; ` +
      'to assume a role with the standard AWS files, configure it in a profile (role_arn and source_profile in ~/.aws/config) and name that profile in [aws] profile')
  }
  if (credentialsFile === undefined) {
    const source = profile === undefined ? 'the default AWS credential chain' : `AWS profile "${profile}"`
    const provider = fromNodeProviderChain(profile === undefined ? {} : { profile })
    return { credentials: explained(provider, source), ...(profile !== undefined && { profile }), ...(region !== undefined && { region }), source }
  }
  const fileProfile = profile ?? 'default'
  checkCredentialsFile(conf, credentialsFile, fileProfile)
  // configFilepath is the same file, so ~/.aws/config cannot add to or change the profile.
  const fileCredentials = fromIni({ filepath: credentialsFile, configFilepath: credentialsFile, profile: fileProfile, ignoreCache: true })
  let source = `profile "${fileProfile}" of ${credentialsFile}`
  let provider: AwsCredentialIdentityProvider = explained(fileCredentials, source)
  if (roleArn !== undefined) {
    source += `, assuming role ${roleArn}`
    provider = explained(fromTemporaryCredentials({
      masterCredentials: provider,
      params: backupSessionParams(roleArn, resolveHost(undefined, config)),
      ...(region !== undefined && { clientConfig: { region } }),
    }), source)
  }
  return { credentials: provider, ...(region !== undefined && { region }), source }
}

function checkCredentialsFile(conf: string, path: string, profile: string): void {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`${conf}: [aws] credentials_file ${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let sections: Record<string, unknown>
  try {
    sections = ini.parse(text) as Record<string, unknown>
  } catch (err) {
    throw new ConfigError(`${conf}: [aws] credentials_file ${path}: cannot parse: ${(err as Error).message}`)
  }
  if (typeof sections[profile] !== 'object') {
    const known = Object.keys(sections).filter((k) => typeof sections[k] === 'object')
    throw new ConfigError(`${conf}: [aws] credentials_file ${path} has no profile [${profile}] (it has: ${known.join(', ') || 'none'}); set [aws] profile`)
  }
}

/**
 * `provider`, with its failures turned into one-line FatalErrors saying
 * where the credentials were looked for (the SDK's own messages do not).
 */
function explained(provider: AwsCredentialIdentityProvider, source: string): AwsCredentialIdentityProvider {
  return async (options) => {
    try {
      return await provider(options)
    } catch (err) {
      if (err instanceof FatalError) throw err
      const e = err as Error
      throw new FatalError(`cannot get AWS credentials from ${source}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message.replace(/\s+/g, ' ')}`, { cause: err })
    }
  }
}

/** Resolves the credentials once, e.g. to package them (pack-creds) or to show who is acting. */
export async function resolveCredentials(access: AwsAccess): Promise<AwsCredentialIdentity> {
  return access.credentials()
}
