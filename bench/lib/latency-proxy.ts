import { Agent, createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An HTTP proxy that adds a round trip to every request it forwards. */
export interface LatencyProxy {
  endpoint: string
  /** The time each request is held before it is forwarded; may be changed between runs. */
  delayMs: number
  close(): Promise<void>
}

/**
 * Starts a proxy in front of `target` (`http://HOST:PORT`) that holds each
 * request `delayMs` after its body has arrived, then forwards it (over
 * kept-alive connections) and streams the answer back: a far S3 endpoint,
 * whose round trip is what many small requests mostly wait on. Nothing is
 * changed on the way.
 */
export async function startLatencyProxy(target: string, delayMs: number): Promise<LatencyProxy> {
  const to = new URL(target)
  const agent = new Agent({ keepAlive: true, maxSockets: 512 })
  const proxy = { endpoint: '', delayMs } as LatencyProxy
  const server: Server = createServer((req, res) => {
    const body: Buffer[] = []
    req.on('data', (c: Buffer) => body.push(c))
    req.on('end', () => setTimeout(() => {
      const upstream = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      })
      upstream.on('error', () => res.destroy())
      upstream.end(Buffer.concat(body))
    }, proxy.delayMs))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  proxy.close = () => {
    agent.destroy()
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  return proxy
}
