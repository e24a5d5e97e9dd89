import { FatalError, UsageError, UserError } from '../cli/errors.js'

/**
 * Runs one AWS request and turns its failure into a one-line UserError:
 * a missing region is a usage error (exit 2); anything AWS or the SDK
 * refused is fatal (exit 3), named by `what` (e.g. `CreateStack
 * s3-sysbackup`) and the service's error name.
 */
export async function awsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw awsError(what, err)
  }
}

export function awsError(what: string, err: unknown): UserError {
  if (err instanceof UserError) return err
  const e = err as { name?: string, message?: string }
  const message = firstLine(e.message ?? String(err))
  if (/region is missing/i.test(message)) return new UsageError('no AWS region: give --region or set AWS_REGION')
  if (e.name === 'CredentialsProviderError') return new FatalError(`${what}: no AWS credentials: ${message}`, { cause: err })
  const name = e.name && e.name !== 'Error' && !message.startsWith(e.name) ? `${e.name}: ` : ''
  return new FatalError(`${what}: ${name}${message}`, { cause: err })
}

/** The service's error name, e.g. `ValidationError`, for deciding what a failure means. */
export function awsErrorName(err: unknown): string | undefined {
  const cause = err instanceof UserError ? (err.cause ?? err) : err
  return (cause as { name?: string }).name
}

export function awsErrorMessage(err: unknown): string {
  const cause = err instanceof UserError ? (err.cause ?? err) : err
  return (cause as { message?: string }).message ?? String(cause)
}

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? text
}
