/**
 * Turns AWS SDK errors into the store's one-line errors (errors.ts), and
 * decides which of them stop the run.
 */
import { UserError } from '../cli/errors.js'
import { NotFoundError, StoreError, StoreFatalError } from './errors.js'

/**
 * Codes no retry and no later item can fix: credentials, permissions, the
 * bucket itself. S3 answers a HEAD without a body, so a 403 there has no
 * code and the SDK names it `Forbidden`.
 */
const FATAL_CODES = new Set([
  'AccessDenied', 'Forbidden', 'AllAccessDisabled', 'AccountProblem',
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired',
  'AuthorizationHeaderMalformed', 'InvalidClientTokenId', 'UnrecognizedClientException', 'NotSignedUp',
  'NoSuchBucket', 'InvalidBucketName', 'InvalidBucketState', 'PermanentRedirect',
  'ObjectLockConfigurationNotFoundError', 'CredentialsProviderError',
])

/**
 * Network failures that outlived every retry: the endpoint is unreachable,
 * so every later request would fail the same way after the same wait.
 */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])

const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchVersion'])

interface SdkError extends Error {
  Code?: string
  code?: string
  $metadata?: { httpStatusCode?: number, attempts?: number }
}

/** Codes for answers without a body (HEAD), which the SDK names only `Unknown`. */
const STATUS_CODES: Record<number, string> = {
  301: 'PermanentRedirect', 400: 'BadRequest', 403: 'AccessDenied', 404: 'NotFound', 405: 'MethodNotAllowed',
}

/** The S3 error code of an SDK error: `NoSuchKey`, `AccessDenied`, `ECONNREFUSED`, … */
export function sdkErrorCode(err: unknown): string {
  const e = err as SdkError
  if (typeof e?.Code === 'string' && e.Code !== '') return e.Code
  if (typeof e?.code === 'string' && e.code !== '') return e.code
  const status = e?.$metadata?.httpStatusCode
  if (typeof e?.name === 'string' && !['', 'Error', 'Unknown', 'UnknownError'].includes(e.name)) return e.name
  if (status === undefined) return 'Error'
  return STATUS_CODES[status] ?? `HTTP${status}`
}

/** HTTP status of an SDK error, when it got an answer. */
export function sdkHttpStatus(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode
}

/**
 * The store error for an SDK failure of `op` on `location`
 * (`s3://bucket/key`). UserErrors (e.g. credential failures already
 * explained) pass through unchanged.
 */
export function fromSdkError(op: string, location: string, err: unknown): Error {
  if (err instanceof UserError || err instanceof StoreError) return err as Error
  const e = err as SdkError
  const code = sdkErrorCode(err)
  const attempts = e?.$metadata?.attempts
  let detail = e?.message && e.message !== 'UnknownError' ? e.message : httpText(sdkHttpStatus(err))
  if (attempts !== undefined && attempts > 1) detail += ` (after ${attempts} attempts)`
  if (NOT_FOUND_CODES.has(code)) return new NotFoundError(op, location, code, detail, { cause: err })
  if (code === 'InvalidRequest' && /ObjectLockConfiguration/i.test(detail)) {
    return new StoreFatalError(op, location, 'ObjectLockNotEnabled', 'the bucket has no Object Lock configuration; s3-sysbackup needs a bucket created with Object Lock enabled', { cause: err })
  }
  if (FATAL_CODES.has(code) || UNREACHABLE_CODES.has(code)) return new StoreFatalError(op, location, code, detail, { cause: err })
  return new StoreError(op, location, code, detail, { cause: err })
}

function httpText(status: number | undefined): string {
  switch (status) {
    case undefined: return 'no response'
    case 403: return 'HTTP 403 Forbidden'
    case 404: return 'HTTP 404 Not Found'
    case 405: return 'HTTP 405 Method Not Allowed'
    default: return `HTTP ${status}`
  }
}
