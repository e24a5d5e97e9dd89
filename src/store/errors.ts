import { FatalError } from '../cli/errors.js'

/**
 * The errors a Store throws. Each message is one line,
 * `<Operation> <location>: <Code>: <detail>`, e.g.
 * `PutObject s3://backups/content/ab12…: AccessDenied: Access Denied`.
 *
 * - StoreFatalError (a FatalError, exit status 3): nothing later in the run
 *   can succeed — access denied, no such bucket, bad credentials, a bucket
 *   without Object Lock. Stop the run.
 * - NotFoundError: the key or version does not exist.
 * - StoreError: this one operation failed (after the store's own retries),
 *   or was refused by the store's guards (`WouldShortenRetention`,
 *   `InvalidMetadata`, `InvalidKey`, `AccessDenied` from LocalStore's
 *   deleteVersion). A stage may report it per item and go on.
 */
export class StoreError extends Error {
  override name = 'StoreError'
  constructor(
    readonly op: string,
    readonly location: string,
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${op} ${location}: ${code}: ${oneLine(detail)}`)
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/** The key or version does not exist (S3 NoSuchKey, NoSuchVersion, 404). */
export class NotFoundError extends StoreError {
  override name = 'NotFoundError'
}

/** A failure that stops the run: see the module comment. */
export class StoreFatalError extends FatalError {
  override name = 'StoreFatalError'
  constructor(
    readonly op: string,
    readonly location: string,
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${op} ${location}: ${code}: ${oneLine(detail)}`, options)
  }
}

/** The store's error code of a thrown value (`NoSuchKey`, `AccessDenied`, …), if it is a store error. */
export function storeErrorCode(err: unknown): string | undefined {
  return err instanceof StoreError || err instanceof StoreFatalError ? err.code : undefined
}

/** Whether a store error is a refusal of access (AccessDenied; `Forbidden` for a HEAD, whose 403 has no body). */
export function isRefusal(err: unknown): boolean {
  const code = storeErrorCode(err)
  return code === 'AccessDenied' || code === 'Forbidden'
}

/** Collapses whitespace runs (newlines included) so a message stays on one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}
