import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseRecords } from './io.js'
import type { Rec } from '../../src/protocol/records.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface BinResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  records(): Rec[]
}

export interface BinOptions {
  stdin?: string | Buffer
  env?: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs?: number
  /** Run as this user and group (we are root; 65534 is nobody). */
  uid?: number
  gid?: number
}

/**
 * Runs the built `bin/<name>.js` as a real process (the package must be
 * built: `npm test` builds first). tap's loader hooks are stripped from
 * NODE_OPTIONS so the child starts as it would for a user.
 */
export function runBin(name: string, args: string[], options: BinOptions = {}): Promise<BinResult> {
  return runProcess(process.execPath, [`${ROOT}bin/${name}.js`, ...args], options)
}

/** Runs any program, collecting its output; kills it after timeoutMs. */
export function runProcess(file: string, args: string[], options: BinOptions = {}): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...options.env }
    delete env.NODE_OPTIONS
    const child = spawn(file, args, {
      cwd: options.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.uid !== undefined && { uid: options.uid }),
      ...(options.gid !== undefined && { gid: options.gid }),
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.stdin.on('error', () => {})
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString('utf8')
      resolve({ status, signal, stdout, stderr: Buffer.concat(err).toString('utf8'), records: () => parseRecords(stdout) })
    })
    child.stdin.end(options.stdin ?? '')
  })
}
