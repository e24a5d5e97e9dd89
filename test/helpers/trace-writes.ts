import { spawn, type StdioOptions } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

/** What a traced process (and its threads and children) wrote, as strace saw it. */
export interface WriteTrace {
  status: number | null
  stdout: string
  stderr: string
  /** Paths opened with O_CREAT (successfully), in order. */
  created: string[]
  /** Every buffer passed to a write-family syscall (write, pwrite, writev, sendto, sendmsg…), with the fd as strace shows it (`3</path>`). */
  writes: { fd: string, data: Buffer }[]
  /** True when any written buffer contains `needle`. */
  wrote(needle: string | Buffer): boolean
}

export interface TraceOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Written to the child's fd 3 (a pipe), then closed; e.g. a password for `--password-fd 3`. */
  fd3?: string
  stdin?: string
  timeoutMs?: number
}

// Buffers up to 1 MiB per call are captured whole; restore writes larger file contents in
// bigger chunks, so a test of a restore should look for secrets in small writes only or raise this.
const STRING_LIMIT = 1024 * 1024
const WRITE_CALLS = ['write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'sendto', 'sendmsg', 'sendmmsg']

/**
 * Runs `file args…` under `strace -f` and reports every file it created
 * and every byte it wrote through a syscall, to any descriptor: files,
 * pipes, sockets, terminals. Proves "no cleartext secret ever reaches the
 * disk" by inspection of the syscalls rather than by scanning a few
 * directories afterwards. (Memory-mapped writes are not seen; Node does not
 * use them for files.) tap's loader hooks are kept out of NODE_OPTIONS.
 */
export async function traceWrites(file: string, args: string[], options: TraceOptions = {}): Promise<WriteTrace> {
  const dir = mkdtempSync(join(tmpdir(), 'trace-writes-'))
  const log = join(dir, 'strace.log')
  const env = { ...process.env, ...options.env }
  delete env.NODE_OPTIONS
  const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', options.fd3 !== undefined ? 'pipe' : 'ignore']
  // `env -u`: tap's processinfo re-adds its loader to NODE_OPTIONS of every child it sees spawned;
  // dropped here, the traced program writes only what it would write for a user.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', 'strace',
    '-f', '-qq', '-xx', '-y', '-s', String(STRING_LIMIT), '-e', 'signal=none',
    '-e', `trace=open,openat,creat,${WRITE_CALLS.join(',')}`, '-o', log, file, ...args,
  ], { env, cwd: options.cwd, stdio })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout!.on('data', (c: Buffer) => out.push(c))
  child.stderr!.on('data', (c: Buffer) => err.push(c))
  child.stdin!.end(options.stdin ?? '')
  child.stdin!.on('error', () => {})
  if (options.fd3 !== undefined) {
    const pipe = child.stdio[3] as NodeJS.WritableStream
    pipe.on('error', () => {}) // the program may exit without reading it
    pipe.end(options.fd3)
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
  const status = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve(code))
  })
  clearTimeout(timer)
  try {
    const { created, writes } = parseStrace(readFileSync(log, 'latin1'))
    return {
      status, created, writes,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      wrote: (needle) => writes.some((w) => w.data.includes(needle)),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Decodes strace's `-xx` strings ("\x41\x42") into bytes. */
function decode(quoted: string): Buffer {
  return Buffer.from(quoted.replace(/\\x/g, ''), 'hex')
}

function parseStrace(text: string): { created: string[], writes: { fd: string, data: Buffer }[] } {
  const created: string[] = []
  const writes: { fd: string, data: Buffer }[] = []
  // Calls interrupted by a thread switch are split into "<unfinished ...>" and "<... resumed>" lines; join them.
  const pending = new Map<string, string>()
  for (let line of text.split('\n')) {
    const pid = /^(\d+)\s+/.exec(line)?.[1] ?? ''
    if (line.includes('<unfinished ...>')) { pending.set(pid, line.replace(/\s*<unfinished \.\.\.>.*$/, '')); continue }
    const resumed = /<\.\.\. \w+ resumed>(.*)$/.exec(line)
    if (resumed) { line = (pending.get(pid) ?? '') + resumed[1]; pending.delete(pid) }
    const call = /^(?:\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line)
    if (!call) continue
    const [, name, argsText, result] = call
    const strings = [...argsText!.matchAll(/"((?:\\x[0-9a-f]{2})*)"/g)].map((m) => decode(m[1]!))
    // With -y, a descriptor is shown as `N<path>` (the path hex-encoded too, under -xx).
    const first = /^(AT_FDCWD|\d+)(?:<((?:\\x[0-9a-f]{2})*)>)?/.exec(argsText!)
    const firstPath = first?.[2] !== undefined ? decode(first[2]).toString('utf8') : undefined
    if ((name === 'open' || name === 'openat' || name === 'creat') && Number(result) >= 0) {
      if (name === 'creat' || /O_CREAT/.test(argsText!)) {
        const path = strings[0]?.toString('utf8') ?? '?'
        created.push(name === 'openat' && firstPath !== undefined ? resolve(firstPath, path) : path)
      }
    } else if (WRITE_CALLS.includes(name!)) {
      writes.push({ fd: firstPath !== undefined ? `${first![1]}<${firstPath}>` : first?.[1] ?? '?', data: Buffer.concat(strings) })
    }
  }
  return { created, writes }
}
