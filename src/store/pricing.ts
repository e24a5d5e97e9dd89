/**
 * S3 list prices, in one place, and the cost estimates derived from them.
 *
 * Source: https://aws.amazon.com/s3/pricing/ — S3 Standard, US East
 * (N. Virginia), as published when this table was written (November 2026;
 * these figures have been unchanged since the December 2016 price change):
 *   - PUT, COPY, POST, LIST requests: $0.005 per 1,000
 *   - GET, SELECT and all other requests: $0.0004 per 1,000
 *   - DELETE and CANCEL requests: free
 *   - storage: $0.023 per GB-month (first 50 TB; 1 GB = 2^30 bytes in AWS billing)
 * Other regions and storage classes cost differently; the estimate is a
 * guide to what a run costs, not a bill. Data transfer into S3 is free;
 * transfer out (restores) is not counted here.
 */

/** The price classes of S3 requests. */
export type RequestClass = 'PUT' | 'GET' | 'FREE'

export const S3_PRICES = {
  /** Dollars per 1,000 PUT-class requests (PUT, COPY, POST, LIST). */
  putClassPer1000: 0.005,
  /** Dollars per 1,000 GET-class requests (GET, HEAD, SELECT and all others). */
  getClassPer1000: 0.0004,
  /** Dollars per GB-month of S3 Standard storage (first 50 TB). */
  storagePerGBMonth: 0.023,
} as const

/**
 * API names billed as PUT-class: writes and listings. Object Lock calls
 * that write (PutObjectRetention, PutObjectLockConfiguration, PutObjectLegalHold)
 * are PUT requests on the wire and billed so.
 */
const PUT_CLASS = new Set([
  'PutObject', 'CopyObject', 'PostObject',
  'CreateMultipartUpload', 'UploadPart', 'UploadPartCopy', 'CompleteMultipartUpload',
  'ListObjects', 'ListObjectsV2', 'ListObjectVersions', 'ListMultipartUploads', 'ListParts', 'ListBuckets',
  'PutObjectRetention', 'PutObjectLegalHold', 'PutObjectLockConfiguration', 'PutObjectTagging',
  'CreateBucket', 'PutBucketVersioning', 'PutBucketPolicy', 'PutBucketLifecycleConfiguration',
])

/** DELETE and CANCEL requests are free. */
const FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload', 'DeleteBucket'])

/** The price class of an S3 API call; anything not listed is "other", billed as GET. */
export function requestClass(api: string): RequestClass {
  if (PUT_CLASS.has(api)) return 'PUT'
  if (FREE.has(api)) return 'FREE'
  return 'GET'
}

export interface RequestCost {
  putRequests: number
  getRequests: number
  freeRequests: number
  /** Estimated dollars for the requests. */
  dollars: number
}

/** The estimated cost of the requests in `counts` (API name → number sent, e.g. RequestCounter.snapshot()). */
export function estimateRequestCost(counts: Record<string, number>): RequestCost {
  const cost: RequestCost = { putRequests: 0, getRequests: 0, freeRequests: 0, dollars: 0 }
  for (const [api, n] of Object.entries(counts)) {
    switch (requestClass(api)) {
      case 'PUT': cost.putRequests += n; break
      case 'GET': cost.getRequests += n; break
      case 'FREE': cost.freeRequests += n; break
    }
  }
  cost.dollars = (cost.putRequests * S3_PRICES.putClassPer1000 + cost.getRequests * S3_PRICES.getClassPer1000) / 1000
  return cost
}

const BYTES_PER_GB = 2 ** 30
/** Average days per month (365.25 / 12): AWS bills storage by byte-hours over the month. */
const DAYS_PER_MONTH = 30.4375

/** Estimated dollars to keep `bytes` in S3 Standard for `days` days. */
export function estimateStorageCost(bytes: number, days: number): number {
  return (bytes / BYTES_PER_GB) * (days / DAYS_PER_MONTH) * S3_PRICES.storagePerGBMonth
}

/** Dollars as text, with more decimals for small amounts: `$12.35`, `$0.0520`, `$0.000400`. */
export function formatDollars(dollars: number): string {
  const digits = dollars >= 1 ? 2 : dollars >= 0.01 ? 4 : 6
  return `$${dollars.toFixed(digits)}`
}
