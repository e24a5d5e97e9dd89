/**
 * Counts store requests by S3 API name (`PutObject`, `UploadPart`,
 * `ListObjectVersions`, …). S3Store counts every HTTP attempt, so a retried
 * request counts each time it was sent (S3 bills each); `retries` says how
 * many of the counted requests were retries. pricing.ts turns the counts
 * into an estimated cost.
 */
export class RequestCounter {
  private readonly counts = new Map<string, number>()
  /** How many of the counted requests were retries of an earlier attempt. */
  retries = 0

  /** Adds `n` requests of `api`. */
  add(api: string, n = 1): void {
    this.counts.set(api, (this.counts.get(api) ?? 0) + n)
  }

  /** Requests of `api` so far (0 when none). */
  get(api: string): number {
    return this.counts.get(api) ?? 0
  }

  /** Requests of every API. */
  get total(): number {
    let sum = 0
    for (const n of this.counts.values()) sum += n
    return sum
  }

  /** A copy of the counts, API names sorted, zero counts omitted. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const api of [...this.counts.keys()].sort()) {
      const n = this.counts.get(api)!
      if (n > 0) out[api] = n
    }
    return out
  }

  /** Requests sent since `before` (a snapshot taken earlier), zero counts omitted. */
  since(before: Record<string, number>): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [api, n] of Object.entries(this.snapshot())) {
      const d = n - (before[api] ?? 0)
      if (d !== 0) out[api] = d
    }
    return out
  }
}
