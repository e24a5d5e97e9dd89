/**
 * A fault-injecting HTTP proxy for S3 tests, placed between the tools and
 * moto_server: the tools reach it through `[s3] endpoint` or
 * `AWS_ENDPOINT_URL=http://127.0.0.1:<port>`.
 *
 * Each request is classified by S3 operation (from the method and the query
 * string) and key; the first rule that matches it and whose seeded coin
 * comes up injects its fault; anything else is forwarded unchanged. The
 * PRNG is seeded, so a seed gives the same decision sequence for the same
 * request sequence (concurrency can reorder requests between runs, so the
 * log, not the seed alone, is the record of what happened: `describe()`
 * prints it for a failing test).
 *
 * Faults:
 * - `500`, `503` (SlowDown), `429` (TooManyRequests): an S3 XML error body,
 *   the request never reaches moto;
 * - `403` (AccessDenied), `404-bucket` (NoSuchBucket): permanent failures;
 * - `reset-before`: the connection is destroyed before the request body is
 *   read (moto never sees it);
 * - `reset-after`: the request is forwarded and answered by moto, then the
 *   client's connection is destroyed instead of answering (the idempotency
 *   case: the write happened, the client does not know);
 * - `delay`: the request is forwarded, and the answer held back `delayMs`
 *   (longer than the client's request timeout);
 * - `truncate`: moto's answer is sent with its full Content-Length but only
 *   half of its body, then the connection is closed.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type FaultKind = '500' | '503' | '429' | '403' | '404-bucket' | 'reset-before' | 'reset-after' | 'delay' | 'truncate'

/** The S3 operation of a request, as far as the tools use them. */
export type Operation =
  | 'GetObject' | 'HeadObject' | 'PutObject' | 'CopyObject'
  | 'CreateMultipartUpload' | 'UploadPart' | 'CompleteMultipartUpload' | 'AbortMultipartUpload' | 'ListMultipartUploads'
  | 'PutObjectRetention' | 'GetObjectRetention'
  | 'ListObjectVersions' | 'ListObjectsV2' | 'ListObjects'
  | 'GetObjectLockConfiguration' | 'HeadBucket' | 'CreateBucket' | 'Other'

export interface FaultRule {
  /** For the log. */
  name: string
  /** Operations the rule applies to (default: every one). */
  operations?: Operation[]
  /** Keys the rule applies to (default: every key, and bucket-level requests). */
  keyPrefix?: string
  /** Chance a matching request gets a fault, 0..1 (default 1). */
  probability?: number
  /** Faults to choose from (uniformly, by the seeded PRNG). */
  faults: FaultKind[]
  /** Inject at most this many faults (default unlimited). */
  limit?: number
  /** Let this many matching requests through before injecting (default 0). */
  skip?: number
}

export interface ProxyEvent {
  n: number
  method: string
  operation: Operation
  key: string
  rule?: string
  fault?: FaultKind
}

export interface FaultProxy {
  endpoint: string
  port: number
  /** Replaces the rules (and their counters); the PRNG keeps going. */
  setRules(rules: FaultRule[]): void
  /** Every request seen, with the fault injected into it, if any. */
  readonly events: ProxyEvent[]
  /** Faults injected so far. */
  faults(): ProxyEvent[]
  /** The fault sequence, one line each, for a failing test's message. */
  describe(): string
  /** The most requests of `operation` the proxy has had at once, from arrival to the end of its answer. */
  peakInFlight(operation: Operation): number
  close(): Promise<void>
}

export interface FaultProxyOptions {
  /** moto's endpoint, `http://127.0.0.1:PORT`. */
  target: string
  seed: number
  rules?: FaultRule[]
  /** How long `delay` holds an answer back (default 3000 ms). */
  delayMs?: number
}

/** mulberry32: a small seeded PRNG, good enough for choosing faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The operation and key of a path-style S3 request. */
export function classify(method: string, url: string): { operation: Operation, bucket: string, key: string } {
  const parsed = new URL(url, 'http://proxy')
  const [, bucket = '', ...rest] = parsed.pathname.split('/')
  const key = decodeURIComponent(rest.join('/'))
  const q = parsed.searchParams
  const has = (name: string) => q.has(name)
  let operation: Operation = 'Other'
  if (key === '') {
    if (method === 'GET' && has('versions')) operation = 'ListObjectVersions'
    else if (method === 'GET' && q.get('list-type') === '2') operation = 'ListObjectsV2'
    else if (method === 'GET' && has('object-lock')) operation = 'GetObjectLockConfiguration'
    else if (method === 'GET' && has('uploads')) operation = 'ListMultipartUploads'
    else if (method === 'GET' && bucket !== '') operation = 'ListObjects'
    else if (method === 'HEAD') operation = 'HeadBucket'
    else if (method === 'PUT') operation = 'CreateBucket'
  } else if (method === 'POST' && has('uploads')) operation = 'CreateMultipartUpload'
  else if (method === 'POST' && has('uploadId')) operation = 'CompleteMultipartUpload'
  else if (method === 'DELETE' && has('uploadId')) operation = 'AbortMultipartUpload'
  else if (method === 'PUT' && has('partNumber')) operation = 'UploadPart'
  else if (method === 'PUT' && has('retention')) operation = 'PutObjectRetention'
  else if (method === 'GET' && has('retention')) operation = 'GetObjectRetention'
  else if (method === 'PUT') operation = 'PutObject'
  else if (method === 'GET') operation = 'GetObject'
  else if (method === 'HEAD') operation = 'HeadObject'
  return { operation, bucket, key }
}

const ERRORS: Record<string, { status: number, code: string, message: string }> = {
  500: { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  503: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
  429: { status: 429, code: 'TooManyRequests', message: 'Too many requests.' },
  403: { status: 403, code: 'AccessDenied', message: 'Access Denied' },
  '404-bucket': { status: 404, code: 'NoSuchBucket', message: 'The specified bucket does not exist' },
}

/** Faults that need a response body to cut: only GetObject and listings have one worth cutting. */
const BODY_OPERATIONS = new Set<Operation>(['GetObject', 'ListObjectVersions', 'ListObjectsV2', 'ListObjects'])

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target)
  const random = seededRandom(options.seed)
  const delayMs = options.delayMs ?? 3000
  let rules: { rule: FaultRule, seen: number, injected: number }[] = []
  const events: ProxyEvent[] = []
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const inFlight = new Map<Operation, number>()
  const peaks = new Map<Operation, number>()

  const setRules = (next: FaultRule[]) => { rules = next.map((rule) => ({ rule, seen: 0, injected: 0 })) }
  setRules(options.rules ?? [])

  function choose(operation: Operation, key: string): { rule: string, fault: FaultKind } | undefined {
    for (const r of rules) {
      const { rule } = r
      if (rule.operations && !rule.operations.includes(operation)) continue
      if (rule.keyPrefix !== undefined && !key.startsWith(rule.keyPrefix)) continue
      const faults = rule.faults.filter((f) => f !== 'truncate' || BODY_OPERATIONS.has(operation))
      if (faults.length === 0) continue
      r.seen++
      if (r.seen <= (rule.skip ?? 0)) continue
      if (rule.limit !== undefined && r.injected >= rule.limit) continue
      // Always draw both numbers, so one rule's decisions do not shift another's.
      const coin = random()
      const pick = random()
      if (coin >= (rule.probability ?? 1)) continue
      r.injected++
      return { rule: rule.name, fault: faults[Math.floor(pick * faults.length)]! }
    }
    return undefined
  }

  function sendError(res: ServerResponse, fault: FaultKind, key: string, bucket: string): void {
    const e = ERRORS[fault]!
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${e.message}</Message>`
      + `${fault === '404-bucket' ? `<BucketName>${bucket}</BucketName>` : `<Key>${key}</Key>`}<RequestId>fault-proxy</RequestId></Error>`
    res.writeHead(e.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'fault-proxy' })
    res.end(body)
  }

  /** Forwards the request to moto; resolves with moto's response, its body read whole. */
  function forward(req: IncomingMessage): Promise<{ status: number, headers: IncomingMessage['headers'], body: Buffer }> {
    return new Promise((resolve, reject) => {
      const upstream = httpRequest({
        host: target.hostname, port: target.port, method: req.method, path: req.url,
        headers: { ...req.headers, host: `${target.hostname}:${target.port}` },
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      upstream.on('error', reject)
      req.pipe(upstream)
    })
  }

  const server: Server = createServer((req, res) => {
    const method = req.method ?? 'GET'
    const { operation, bucket, key } = classify(method, req.url ?? '/')
    const chosen = req.url?.startsWith('/moto-api') ? undefined : choose(operation, key)
    const event: ProxyEvent = { n: events.length + 1, method, operation, key, ...(chosen && { rule: chosen.rule, fault: chosen.fault }) }
    events.push(event)
    const now = (inFlight.get(operation) ?? 0) + 1
    inFlight.set(operation, now)
    if (now > (peaks.get(operation) ?? 0)) peaks.set(operation, now)
    res.on('close', () => inFlight.set(operation, inFlight.get(operation)! - 1))
    const fault = chosen?.fault
    if (fault === 'reset-before') {
      req.socket.destroy()
      return
    }
    if (fault !== undefined && fault in ERRORS) {
      // Read (and drop) the body first, as S3 does, so the client is not cut off mid-send.
      req.resume()
      req.on('end', () => sendError(res, fault, key, bucket))
      return
    }
    forward(req).then((answer) => {
      if (fault === 'reset-after') {
        res.socket?.destroy()
        return
      }
      const respond = () => {
        if (res.socket?.destroyed) return
        if (fault === 'truncate' && answer.body.length > 1) {
          res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) })
          res.write(answer.body.subarray(0, Math.floor(answer.body.length / 2)), () => res.socket?.destroy())
          return
        }
        res.writeHead(answer.status, answer.headers)
        res.end(answer.body)
      }
      if (fault === 'delay') {
        const timer = setTimeout(() => { timers.delete(timer); respond() }, delayMs)
        timers.add(timer)
      } else {
        respond()
      }
    }, () => {
      res.socket?.destroy()
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  // Clients that give up (timeouts) leave half-written requests: not our concern.
  server.on('clientError', (_err, socket) => socket.destroy())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    setRules,
    events,
    faults: () => events.filter((e) => e.fault !== undefined),
    peakInFlight: (operation) => peaks.get(operation) ?? 0,
    describe() {
      const injected = events.filter((e) => e.fault !== undefined)
      return `fault proxy (seed ${options.seed}): ${events.length} requests, ${injected.length} faults\n`
        + injected.map((e) => `  #${e.n} ${e.operation} ${e.key || '(bucket)'}: ${e.fault} (${e.rule})`).join('\n')
    },
    close() {
      for (const timer of timers) clearTimeout(timer)
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
