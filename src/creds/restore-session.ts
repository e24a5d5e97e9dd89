import { hostname } from 'node:os'
import {
  AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand, STSClient, type Credentials, type STSClientConfig,
} from '@aws-sdk/client-sts'
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types'
import { FatalError, UsageError } from '../cli/errors.js'
import type { CredentialsPayload } from './payload.js'

/** The resource package whose restore role is assumed when neither options nor package name one. */
export const DEFAULT_PACKAGE_NAME = 's3-sysbackup'
/** Prefix of the restore role's name; the role is `DataRestoreRole-<package>`. */
export const RESTORE_ROLE_PREFIX = 'DataRestoreRole-'

export interface RestoreSessionOptions {
  /** `--role-arn`: the role to assume; overrides the package's roleArn. */
  roleArn?: string
  /** The resource package whose DataRestoreRole-<name> is assumed when no role ARN is known; overrides the package's. */
  packageName?: string
  /** `--mfa-serial`: the MFA device (serial or ARN); overrides the package's mfaSerial. */
  mfaSerial?: string
  /** Asks for the current code of the MFA device (see terminalTokenPrompt). Required when an MFA serial is known. */
  tokenPrompt?: (mfaSerial: string) => Promise<string>
  /** Region of the STS endpoint; default the package's region, else the SDK's own resolution (AWS_REGION…). */
  region?: string
  /** Lifetime asked for each role session (AssumeRole DurationSeconds); default 3600, STS allows 900 up to the role's maximum. */
  roleSessionSeconds?: number
  /** Lifetime of the MFA-authenticated session (GetSessionToken DurationSeconds); default 43200 (12 h). */
  mfaSessionSeconds?: number
  /** A session is renewed once less than this is left of it; default 600, at most half the session's lifetime. */
  renewBeforeSeconds?: number
  /** RoleSessionName, shown in CloudTrail; default `s3-sysbackup-restore@<host>`. */
  sessionName?: string
  /** Clock in milliseconds since the epoch (tests move it forward); default Date.now. */
  now?: () => number
  /** Extra STS client settings (endpoint, retries…). Credentials and region are set here, never taken from it. */
  clientConfig?: Omit<STSClientConfig, 'credentials' | 'region'>
}

/** An SDK credential provider for a restore, plus the role it assumes. */
export interface RestoreCredentialProvider extends AwsCredentialIdentityProvider {
  /** The ARN of the restore role (resolving the account with sts:GetCallerIdentity when it must be derived). */
  roleArn(): Promise<string>
}

interface Session {
  credentials: AwsCredentialIdentity & { expiration: Date }
}

/**
 * The credentials a restore works with: the restore role, assumed through
 * STS with the package's long-lived key as the source. Pass it as the
 * `credentials` of every SDK client of the restore.
 *
 * - The role is `options.roleArn`, else the package's roleArn, else
 *   `arn:<partition>:iam::<account>:role/DataRestoreRole-<package>`, where
 *   the account and partition come from sts:GetCallerIdentity of the
 *   package's key and `<package>` is options.packageName, else the
 *   package's packageName, else `s3-sysbackup`.
 * - With an MFA device (options.mfaSerial, else the package's), the code
 *   is asked once through `tokenPrompt` and given to sts:GetSessionToken
 *   (SerialNumber, TokenCode) for an MFA-authenticated session of
 *   mfaSessionSeconds; the role is assumed with that session, so role
 *   sessions carry aws:MultiFactorAuthPresent and can be renewed without
 *   asking again. A code is asked again only when that session itself
 *   runs out; a refused code may be retyped twice.
 * - Each call returns the current role session's credentials (access
 *   key, secret, session token, expiration), renewing them with a new
 *   AssumeRole once less than renewBeforeSeconds (at most half the
 *   session) is left, so a restore
 *   that runs for hours keeps working. Concurrent calls share one renewal.
 *   (SDK clients ask again by themselves when credentials are within five
 *   minutes of expiring.)
 * - The package's key is used only to sign the STS requests: it is never
 *   written anywhere, never put in process.env, never returned.
 *
 * Errors: UsageError (exit 2) for an MFA device without a tokenPrompt or a
 * code that is not 6 digits; FatalError (exit 3) when STS refuses
 * (unknown key, role not assumable, MFA code refused three times…), with
 * the STS error name and message.
 */
export function restoreCredentialProvider(pkg: CredentialsPayload, options: RestoreSessionOptions = {}): RestoreCredentialProvider {
  const now = options.now ?? Date.now
  const roleSeconds = options.roleSessionSeconds ?? 3600
  const mfaSeconds = options.mfaSessionSeconds ?? 43200
  const renewBeforeMs = (options.renewBeforeSeconds ?? 600) * 1000
  const region = options.region ?? pkg.region
  const mfaSerial = options.mfaSerial ?? pkg.mfaSerial
  const sessionName = options.sessionName ?? defaultSessionName()

  const stsWith = (credentials: AwsCredentialIdentity) => new STSClient({
    ...options.clientConfig,
    ...(region !== undefined ? { region } : {}),
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken },
  })
  const sourceSts = stsWith({ accessKeyId: pkg.accessKeyId, secretAccessKey: pkg.secretAccessKey })

  let roleArnPromise: Promise<string> | undefined
  let mfaSession: (Session & { sts: STSClient }) | undefined
  let roleSession: Session | undefined
  let renewal: Promise<AwsCredentialIdentity> | undefined

  // Renewing when more than half a session is left would renew on every call.
  const fresh = (s: Session | undefined, lifetimeSeconds: number): boolean =>
    s !== undefined && s.credentials.expiration.getTime() - now() > Math.min(renewBeforeMs, lifetimeSeconds * 500)

  function roleArn(): Promise<string> {
    roleArnPromise ??= (async () => {
      const explicit = options.roleArn ?? pkg.roleArn
      if (explicit !== undefined) return explicit
      const name = `${RESTORE_ROLE_PREFIX}${options.packageName ?? pkg.packageName ?? DEFAULT_PACKAGE_NAME}`
      const who = await call('sts:GetCallerIdentity with the package\'s key', () => sourceSts.send(new GetCallerIdentityCommand({})))
      const partition = who.Arn?.split(':')[1] ?? 'aws'
      if (who.Account === undefined) throw new FatalError('sts:GetCallerIdentity returned no account')
      return `arn:${partition}:iam::${who.Account}:role/${name}`
    })()
    roleArnPromise.catch(() => { roleArnPromise = undefined })
    return roleArnPromise
  }

  /** The STS client AssumeRole is called with: the package's key, or the MFA session made from it. */
  async function assumingSts(): Promise<STSClient> {
    if (mfaSerial === undefined) return sourceSts
    if (fresh(mfaSession, mfaSeconds)) return mfaSession!.sts
    if (!options.tokenPrompt) throw new UsageError(`the MFA device ${mfaSerial} is required, but there is no way to ask for its code`)
    for (let attempt = 1; ; attempt++) {
      const code = (await options.tokenPrompt(mfaSerial)).trim()
      if (!/^\d{6}$/.test(code)) throw new UsageError(`the MFA code must be 6 digits, not "${code}"`)
      try {
        const out = await sourceSts.send(new GetSessionTokenCommand({ SerialNumber: mfaSerial, TokenCode: code, DurationSeconds: mfaSeconds }))
        const credentials = toIdentity(out.Credentials, now() + mfaSeconds * 1000, 'sts:GetSessionToken')
        mfaSession = { credentials, sts: stsWith(credentials) }
        return mfaSession.sts
      } catch (err) {
        if (attempt < 3 && /AccessDenied/i.test((err as Error).name)) continue
        throw stsFailure(`sts:GetSessionToken with MFA device ${mfaSerial}`, err)
      }
    }
  }

  async function renew(): Promise<AwsCredentialIdentity> {
    const arn = await roleArn()
    const sts = await assumingSts()
    const out = await call(`sts:AssumeRole ${arn}`, () => sts.send(new AssumeRoleCommand({
      RoleArn: arn, RoleSessionName: sessionName, DurationSeconds: roleSeconds,
    })))
    roleSession = { credentials: toIdentity(out.Credentials, now() + roleSeconds * 1000, 'sts:AssumeRole') }
    return { ...roleSession.credentials }
  }

  const provider = async (): Promise<AwsCredentialIdentity> => {
    if (fresh(roleSession, roleSeconds)) return { ...roleSession!.credentials }
    renewal ??= renew().finally(() => { renewal = undefined })
    return renewal
  }
  return Object.assign(provider, { roleArn })
}

function toIdentity(c: Credentials | undefined, fallbackExpiry: number, what: string): AwsCredentialIdentity & { expiration: Date } {
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new FatalError(`${what} returned no credentials`)
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiration: c.Expiration ?? new Date(fallbackExpiry),
  }
}

async function call<T>(what: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send()
  } catch (err) {
    throw stsFailure(what, err)
  }
}

function stsFailure(what: string, err: unknown): Error {
  if (err instanceof UsageError || err instanceof FatalError) return err
  const e = err as Error
  return new FatalError(`${what} failed: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`, { cause: err })
}

/** `s3-sysbackup-restore@<host>`, within STS's RoleSessionName rules ([\w+=,.@-], 2–64 characters). */
function defaultSessionName(): string {
  return `s3-sysbackup-restore@${hostname().replace(/[^\w+=,.@-]/g, '-')}`.slice(0, 64)
}
