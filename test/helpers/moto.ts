import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

/** A moto_server of this test file's own (moto's reset is global, so never share one). */
export interface Moto {
  endpoint: string
  port: number
  /** Environment for SDK clients and child processes to reach this server. */
  env: NodeJS.ProcessEnv
  /** Forgets every bucket, user and stack. */
  reset(): Promise<void>
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/**
 * Starts moto_server on a free port of 127.0.0.1 (an IP, so the SDK uses
 * path-style addressing) and waits until it answers.
 */
export async function startMoto(): Promise<Moto> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000) })
    const endpoint = `http://127.0.0.1:${port}`
    try {
      await waitUntilUp(endpoint, child)
      return motoHandle(endpoint, port, child)
    } catch (err) {
      child.kill('SIGKILL')
      if (attempt >= 2) throw new Error(`moto_server did not start: ${(err as Error).message}\n${stderr}`)
    }
  }
}

async function waitUntilUp(endpoint: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with status ${child.exitCode}`)
    try {
      const res = await fetch(`${endpoint}/moto-api/`)
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('timed out waiting for /moto-api/')
}

function motoHandle(endpoint: string, port: number, child: ChildProcess): Moto {
  return {
    endpoint,
    port,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' })
      if (!res.ok) throw new Error(`moto reset failed: ${res.status}`)
    },
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })
    },
  }
}
