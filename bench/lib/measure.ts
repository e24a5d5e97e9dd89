import { spawn } from 'node:child_process'
import { readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What one run of a command cost, measured from outside as a child process. */
export interface RunMeasure {
  wallSeconds: number
  /** User plus system CPU of the whole process tree (every descendant that was waited for). */
  cpuSeconds: number
  /** Peak of the SUM of VmRSS over the process tree, sampled every `sampleMs`, in MB. */
  treeRssMb: number
  /** getrusage's max RSS of the largest single process, in MB. */
  maxProcessRssMb: number
  status: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Sampling period of the process tree's RSS (default 20 ms). */
  sampleMs?: number
}

let runs = 0

/**
 * Runs `argv` under /usr/bin/time (whose rusage covers every descendant it
 * waited for: user+sys CPU, max single-process RSS) and samples the VmRSS of
 * every process under it, summing them, for the honest peak of a pipeline of
 * processes. Wall time is hrtime around spawn and exit.
 */
export async function measure(argv: string[], opts: RunOptions = {}): Promise<RunMeasure> {
  const timeFile = join(tmpdir(), `bench-time-${process.pid}-${++runs}`)
  const started = process.hrtime.bigint()
  const child = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%U %S %M', ...argv], {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-20_000) })
  const outputClosed = new Promise<void>((resolve) => child.stdout!.once('close', () => resolve()))
  let peakKb = 0
  const sample = () => {
    const kb = treeRssKb(child.pid!)
    if (kb > peakKb) peakKb = kb
  }
  const timer = setInterval(sample, opts.sampleMs ?? 20)
  const status = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
  })
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9
  clearInterval(timer)
  await outputClosed
  let user = NaN, system = NaN, maxKb = NaN
  try {
    const line = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!
    ;[user, system, maxKb] = line.split(' ').map(Number) as [number, number, number]
  } finally {
    rmSync(timeFile, { force: true })
  }
  return { wallSeconds, cpuSeconds: user + system, treeRssMb: peakKb / 1024, maxProcessRssMb: maxKb / 1024, status, stdout, stderr }
}

/** Sum of VmRSS (kB) of `pid` and all its descendants (the time wrapper itself included; it is ~2 MB). */
function treeRssKb(pid: number): number {
  let total = 0
  const stack = [pid]
  while (stack.length) {
    const p = stack.pop()!
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      const m = /VmRSS:\s+(\d+)/.exec(status)
      if (m) total += Number(m[1])
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim()
        if (children) for (const c of children.split(' ')) stack.push(Number(c))
      }
    } catch {
      // The process ended between listing and reading.
    }
  }
  return total
}

/** CPU seconds (user+system) a process has used so far, from /proc (for moto's share). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields after the command: state is [0], utime [11], stime [12] (in clock ticks, 100/s on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100
}
