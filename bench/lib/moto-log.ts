import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { processCpuSeconds } from './measure.js'

/**
 * A moto_server of the benchmark's own, whose werkzeug log (one line per
 * request on stderr) is kept, so requests can be counted by S3 API name for
 * any stretch of time: `mark()` before a run, `requestsSince(mark)` after.
 */
export interface LoggedMoto {
  endpoint: string
  pid: number
  /** Waits until the log has been quiet for a moment (lines arrive after the responses). */
  settle(): Promise<void>
  mark(): number
  /** Requests by S3 API name logged since `mark` (only lines from after the mark). */
  requestsSince(mark: number): Record<string, number>
  /** CPU seconds moto has spent so far (its share of a run is the difference). */
  cpuSeconds(): number
  stop(): Promise<void>
}

export async function startLoggedMoto(): Promise<LoggedMoto> {
  const port = await freePort()
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let partial = ''
  const onData = (c: Buffer) => {
    const text = partial + c.toString()
    const parts = text.split('\n')
    partial = parts.pop()!
    for (const l of parts) if (l.includes('" ') && l.includes('HTTP/')) lines.push(l)
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const endpoint = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      if ((await fetch(`${endpoint}/moto-api/`)).ok) break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('moto_server did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  // Let the log line of our probe arrive, then forget it.
  await new Promise((r) => setTimeout(r, 100))
  return {
    endpoint,
    pid: child.pid!,
    async settle() {
      for (let seen = -1; seen !== lines.length;) {
        seen = lines.length
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    mark: () => lines.length,
    requestsSince(mark) {
      const counts: Record<string, number> = {}
      for (const line of lines.slice(mark)) {
        const api = apiOf(line)
        if (api) counts[api] = (counts[api] ?? 0) + 1
      }
      return counts
    },
    cpuSeconds: () => processCpuSeconds(child.pid!),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    }),
  }
}

/**
 * The S3 API name of one werkzeug log line such as
 * `127.0.0.1 - - [date] "PUT /bucket/key?retention HTTP/1.1" 200 -`
 * (path-style addressing); undefined for moto's own API.
 */
export function apiOf(line: string): string | undefined {
  const m = /"([A-Z]+) (\S+) HTTP\/[\d.]+"/.exec(line)
  if (!m) return undefined
  const [, method, target] = m as unknown as [string, string, string]
  if (target.startsWith('/moto-api')) return undefined
  const url = new URL(target, 'http://x')
  const q = url.searchParams
  const onObject = url.pathname.replace(/^\/+|\/+$/g, '').includes('/')
  if (method === 'PUT') {
    if (!onObject) return q.has('object-lock') ? 'PutObjectLockConfiguration' : 'CreateBucket'
    if (q.has('partNumber')) return 'UploadPart'
    if (q.has('retention')) return 'PutObjectRetention'
    if (q.has('legal-hold')) return 'PutObjectLegalHold'
    return 'PutObject'
  }
  if (method === 'POST') {
    if (q.has('uploads')) return 'CreateMultipartUpload'
    if (q.has('uploadId')) return 'CompleteMultipartUpload'
    if (q.has('delete')) return 'DeleteObjects'
    return 'POST'
  }
  if (method === 'GET') {
    if (onObject) return q.has('retention') ? 'GetObjectRetention' : 'GetObject'
    if (q.has('versions')) return 'ListObjectVersions'
    if (q.get('list-type') === '2') return 'ListObjectsV2'
    if (q.has('object-lock')) return 'GetObjectLockConfiguration'
    if (q.has('location')) return 'GetBucketLocation'
    if (q.has('uploads')) return 'ListMultipartUploads'
    return 'ListObjects'
  }
  if (method === 'HEAD') return onObject ? 'HeadObject' : 'HeadBucket'
  if (method === 'DELETE') return onObject ? (q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject') : 'DeleteBucket'
  return method
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}
