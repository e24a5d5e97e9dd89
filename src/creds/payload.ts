/**
 * What a credentials package carries: an IAM user's long-lived access key,
 * and optionally what a fresh machine needs to find its backups. This is
 * the JSON object inside the encryption; field names are part of format
 * version 1 (unknown fields are ignored when reading, so later releases may
 * add some).
 */
export interface CredentialsPayload {
  /** The IAM user's access key ID (`AKIA…`). */
  accessKeyId: string
  secretAccessKey: string
  /** AWS region for STS, S3 and CloudFormation calls. */
  region?: string
  /** ARN of the role to assume for restoring; when absent, DataRestoreRole-<packageName> in the key's account. */
  roleArn?: string
  /** Name of the resource package (`create-resources`) whose restore role to assume. */
  packageName?: string
  /** The bucket holding the backups. */
  bucket?: string
  /** CloudFormation export naming the bucket, when `bucket` is absent. */
  cfnExport?: string
  /** Region of that CloudFormation stack. */
  cfnRegion?: string
  /** Serial number or ARN of the MFA device that the restore role requires. */
  mfaSerial?: string
  /** When the package was written, ISO-8601 UTC. */
  createdAt: string
}

const REQUIRED = ['accessKeyId', 'secretAccessKey', 'createdAt'] as const
const OPTIONAL = ['region', 'roleArn', 'packageName', 'bucket', 'cfnExport', 'cfnRegion', 'mfaSerial'] as const

/**
 * Checks a decrypted JSON value and returns the payload with only the known
 * fields. Returns null when the value is not a valid payload (a foreign or
 * buggy writer: the tag already proved it was written with this password).
 */
export function toPayload(value: unknown): CredentialsPayload | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null
  const record = value as Record<string, unknown>
  const out: Record<string, string> = {}
  for (const key of REQUIRED) {
    const v = record[key]
    if (typeof v !== 'string' || v === '') return null
    out[key] = v
  }
  for (const key of OPTIONAL) {
    const v = record[key]
    if (v === undefined) continue
    if (typeof v !== 'string' || v === '') return null
    out[key] = v
  }
  return out as unknown as CredentialsPayload
}

/** The payload as UTF-8 JSON bytes, with only the known fields, in a fixed order. */
export function encodePayload(payload: CredentialsPayload): Buffer {
  const ordered: Record<string, string> = {}
  for (const key of [...REQUIRED, ...OPTIONAL]) {
    const v = payload[key]
    if (v !== undefined) ordered[key] = v
  }
  return Buffer.from(JSON.stringify(ordered), 'utf8')
}
