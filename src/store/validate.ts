/**
 * Checks both stores apply before sending anything, so a mistake gives the
 * same clear error on S3 and on a local directory (and moto, which accepts
 * much that S3 refuses, cannot hide it).
 */
import { StoreError } from './errors.js'
import { LOCK_MODES, type LockMode, type PutOptions, type Retention } from './store.js'

/** S3's limit on user metadata: keys plus values, in bytes. */
export const MAX_METADATA_BYTES = 2048
/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024

const METADATA_KEY = /^[a-z0-9][a-z0-9._-]*$/
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

/** A key must be 1–1024 UTF-8 bytes without control characters. Throws StoreError `InvalidKey`. */
export function checkKey(op: string, location: string, key: string): void {
  const bytes = Buffer.byteLength(key)
  if (bytes === 0 || bytes > MAX_KEY_BYTES) throw new StoreError(op, location, 'InvalidKey', `a key must be 1 to ${MAX_KEY_BYTES} bytes long`)
  if (/[\x00-\x1f\x7f]/.test(key)) throw new StoreError(op, location, 'InvalidKey', 'a key must not contain control characters')
}

/**
 * Checks the lock, metadata and retain-until date of a put (see PutOptions).
 * `now` is the store's clock: a retain-until date not in the future is
 * refused (S3 refuses it too; moto does not).
 */
export function checkPutOptions(op: string, location: string, opts: PutOptions, now: Date): void {
  if (!LOCK_MODES.includes(opts.lockMode)) {
    throw new StoreError(op, location, 'InvalidLock', `lock mode must be GOVERNANCE or COMPLIANCE, not ${String(opts.lockMode)}`)
  }
  if (!(opts.retainUntil instanceof Date) || Number.isNaN(opts.retainUntil.getTime())) {
    throw new StoreError(op, location, 'InvalidLock', 'retain-until is not a valid date')
  }
  if (opts.retainUntil.getTime() <= now.getTime()) {
    throw new StoreError(op, location, 'InvalidLock', `retain-until ${opts.retainUntil.toISOString()} is not in the future`)
  }
  let bytes = 0
  for (const [k, v] of Object.entries(opts.metadata ?? {})) {
    if (!METADATA_KEY.test(k)) {
      throw new StoreError(op, location, 'InvalidMetadata', `metadata key "${k}" must be lower-case letters, digits, ".", "_" or "-"`)
    }
    if (typeof v !== 'string' || !PRINTABLE_ASCII.test(v)) {
      throw new StoreError(op, location, 'InvalidMetadata', `metadata "${k}" must be printable ASCII (encode other text)`)
    }
    bytes += k.length + v.length
  }
  if (bytes > MAX_METADATA_BYTES) {
    throw new StoreError(op, location, 'InvalidMetadata', `metadata is ${bytes} bytes, more than S3's ${MAX_METADATA_BYTES}`)
  }
  for (const [name, value] of [['content encoding', opts.contentEncoding], ['content type', opts.contentType]] as const) {
    if (value !== undefined && (value === '' || !PRINTABLE_ASCII.test(value))) {
      throw new StoreError(op, location, 'InvalidMetadata', `${name} must be printable ASCII`)
    }
  }
}

/**
 * The lock mode to send so a version with retention `current` is retained
 * until `retainUntil` in `mode`, or null when it already is (nothing to
 * send). A version already in COMPLIANCE mode stays in it — S3 allows no
 * change to GOVERNANCE — and only its date moves. Throws StoreError
 * `WouldShortenRetention` when `retainUntil` is before the current date.
 * Shared by both stores.
 */
export function retentionChange(op: string, location: string, versionId: string, current: Retention, mode: LockMode, retainUntil: Date): LockMode | null {
  if (current.retainUntil !== undefined && retainUntil.getTime() < current.retainUntil.getTime()) {
    throw new StoreError(op, location, 'WouldShortenRetention',
      `version ${versionId} is retained until ${current.retainUntil.toISOString()}; refusing to shorten it to ${retainUntil.toISOString()}`)
  }
  const effective = current.mode === 'COMPLIANCE' ? 'COMPLIANCE' : mode
  const unchanged = current.mode === effective && current.retainUntil?.getTime() === retainUntil.getTime()
  return unchanged ? null : effective
}

/** Whether `current` retains a version at least until `retainUntil` in at least `mode`. */
export function retains(current: Retention, mode: LockMode, retainUntil: Date): boolean {
  return current.retainUntil !== undefined && current.retainUntil.getTime() >= retainUntil.getTime() &&
    (current.mode === mode || current.mode === 'COMPLIANCE')
}
