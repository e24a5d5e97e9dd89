/**
 * How every AWS client of s3-sysbackup retries and times out, in one place.
 *
 * Retries: the SDK's `standard` mode — exponential backoff with jitter
 * (base 100 ms, at most 20 s between attempts) on throttling (SlowDown,
 * 503), 5xx, timeouts and connection errors, with a retry quota that stops
 * retrying when most requests fail (so a dead endpoint fails fast instead
 * of backing off on every item). `adaptive` mode adds client-side rate
 * limiting, but AWS still calls it experimental; standard is predictable.
 * Every attempt is counted by the store (RequestCounter) since S3 bills it.
 *
 * Timeouts (node:http handler):
 * - connection: TCP (and TLS) connect must finish within 10 s;
 * - request: a request, body included, must be answered (response headers)
 *   within 10 min — an 8 MiB part needs only ~14 KB/s for that;
 * - socket: 2 min without a byte in either direction aborts the attempt,
 *   which also covers a stalled GetObject body after the headers arrived.
 * A timed-out attempt is retried like any transient failure.
 *
 * The environment variable S3_SYSBACKUP_TRANSPORT overrides these for every
 * store a process opens (see transportFromEnv): tests make timeouts short
 * to prove that a stalled request is retried.
 */
export interface TransportSettings {
  /** Attempts per request, the first included. */
  maxAttempts: number
  retryMode: 'standard' | 'adaptive'
  connectionTimeoutMs: number
  requestTimeoutMs: number
  socketTimeoutMs: number
  /** Sockets per endpoint; above the store's upload concurrency. */
  maxSockets: number
}

export const DEFAULT_TRANSPORT: TransportSettings = {
  maxAttempts: 8,
  retryMode: 'standard',
  connectionTimeoutMs: 10_000,
  requestTimeoutMs: 600_000,
  socketTimeoutMs: 120_000,
  maxSockets: 50,
}

/** The client-constructor settings for `t` (spread into any AWS SDK client's config). */
export function transportConfig(t: Partial<TransportSettings> = {}) {
  const s = { ...DEFAULT_TRANSPORT, ...t }
  const agent = { keepAlive: true, maxSockets: s.maxSockets }
  return {
    maxAttempts: s.maxAttempts,
    retryMode: s.retryMode,
    requestHandler: {
      connectionTimeout: s.connectionTimeoutMs,
      requestTimeout: s.requestTimeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: s.socketTimeoutMs,
      httpAgent: agent,
      httpsAgent: agent,
    },
  }
}

/** The environment variable read by transportFromEnv. */
export const TRANSPORT_ENV = 'S3_SYSBACKUP_TRANSPORT'

const NUMERIC_SETTINGS = ['maxAttempts', 'connectionTimeoutMs', 'requestTimeoutMs', 'socketTimeoutMs', 'maxSockets'] as const

/**
 * Overrides from `S3_SYSBACKUP_TRANSPORT`: comma-separated `name=value`
 * pairs of TransportSettings, e.g. `requestTimeoutMs=1000,maxAttempts=10`
 * (`retryMode=adaptive` too). Unset or empty: no overrides. Throws an Error
 * naming the variable for anything else, which the caller reports as a
 * configuration error.
 */
export function transportFromEnv(env: NodeJS.ProcessEnv): Partial<TransportSettings> {
  const text = env[TRANSPORT_ENV]?.trim()
  const out: Partial<TransportSettings> = {}
  if (!text) return out
  for (const pair of text.split(',')) {
    const [name = '', value = ''] = pair.split('=').map((part) => part.trim())
    if (name === 'retryMode') {
      if (value !== 'standard' && value !== 'adaptive') throw new Error(`${TRANSPORT_ENV}: retryMode "${value}" is not standard or adaptive`)
      out.retryMode = value
    } else if ((NUMERIC_SETTINGS as readonly string[]).includes(name)) {
      const n = Number(value)
      if (value === '' || !Number.isInteger(n) || n < 1) throw new Error(`${TRANSPORT_ENV}: ${name} "${value}" is not a positive whole number`)
      out[name as typeof NUMERIC_SETTINGS[number]] = n
    } else {
      throw new Error(`${TRANSPORT_ENV}: unknown setting "${name}" (known: ${[...NUMERIC_SETTINGS, 'retryMode'].join(', ')})`)
    }
  }
  return out
}
