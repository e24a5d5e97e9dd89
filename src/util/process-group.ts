import { spawn, type ChildProcess } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'

/** How a program run ended. */
export interface ProcessOutcome {
  /** Exit status, when it exited. */
  status: number | null
  /** The signal that ended it, when one did. */
  signal: NodeJS.Signals | null
  /** Killed because it used up its time. */
  timedOut: boolean
  /** Killed because the caller stopped it (the abort signal, or stop()). */
  aborted: boolean
  /** It could not be started at all (EACCES, ENOEXEC…). */
  spawnError?: NodeJS.ErrnoException
}

export interface GroupProcessOptions {
  /** Arguments after the program's name (default none). */
  args?: string[]
  /**
   * Pipes the program writes to besides its standard output: fd 3, 4, …
   * (default 0). A snapshotter gets one, fd 3, for its snapshot.
   */
  extraOutputs?: number
  /**
   * Seconds the program may keep us waiting, 0 for no limit. Only time spent
   * waiting for its output (read with output()), for the outputs being
   * collected, or for its exit counts: a program blocked on a full pipe
   * because whoever consumes our output is slow is not using its time.
   */
  timeoutSeconds: number
  /** Between SIGTERM and SIGKILL to the program's process group, in milliseconds. */
  graceMs: number
  env: NodeJS.ProcessEnv
  /** Where the program's standard error goes: our own, so messages reach the user. */
  stderr: Writable
  /** Aborting it kills the program. */
  signal: AbortSignal
}

/** Between SIGTERM and SIGKILL, in milliseconds. */
export const KILL_GRACE_MS = 2000

const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * One run of a configured program (a picker, a snapshotter): run with
 * standard input from /dev/null, in `/`, in a process group of its own (so
 * that killing it also kills a `find` or `pg_dump` it started), its
 * standard error passed through. Read one output with `output(fd)` and
 * drain others with `collect(fd, …)`, then ask `outcome()` how it ended.
 */
export class GroupProcess {
  private readonly child: ChildProcess
  private readonly exited: Promise<void>
  private readonly collected: Promise<void>[] = []
  private exitStatus: number | null = null
  private exitSignal: NodeJS.Signals | null = null
  private spawnError: NodeJS.ErrnoException | undefined
  private timedOut = false
  private aborted = false
  private remainingMs: number
  private waitTimer: NodeJS.Timeout | undefined
  private waitStarted = 0
  private killTimer: NodeJS.Timeout | undefined
  private readonly onAbort = () => this.stop()

  constructor(readonly file: string, private readonly options: GroupProcessOptions) {
    this.remainingMs = options.timeoutSeconds > 0 ? options.timeoutSeconds * 1000 : Infinity
    const inheritStderr = options.stderr === process.stderr
    const extra = Array.from({ length: options.extraOutputs ?? 0 }, () => 'pipe' as const)
    this.child = spawn(file, options.args ?? [], {
      cwd: '/',
      env: options.env,
      detached: true, // its own process group (and session)
      stdio: ['ignore', 'pipe', inheritStderr ? 'inherit' : 'pipe', ...extra],
    })
    if (!inheritStderr) this.child.stderr!.on('data', (chunk: Buffer) => options.stderr.write(chunk))
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (status, signal) => {
        this.exitStatus = status
        this.exitSignal = signal
        // Killed and gone: what is left of its group (if anything) still gets
        // SIGKILL if we run that long, but it must not keep us from exiting.
        this.killTimer?.unref()
        resolve()
      })
      this.child.once('error', (err) => {
        // Only a failure to start, for a process we never write to.
        this.spawnError = err
        resolve()
      })
    })
    if (options.signal.aborted) this.stop()
    else options.signal.addEventListener('abort', this.onAbort, { once: true })
  }

  /**
   * Output `fd` of the program (1, its standard output, by default), chunk
   * by chunk, as it comes; waiting for it counts against the timeout. Ends
   * at end of file, which a kill brings about. Stopping early kills the
   * program.
   */
  async *output(fd = 1): AsyncGenerator<Buffer> {
    const chunks = this.stream(fd)[Symbol.asyncIterator]() as AsyncIterator<Buffer>
    let finished = false
    try {
      for (;;) {
        this.startWaiting()
        let result: IteratorResult<Buffer>
        try {
          result = await chunks.next()
        } finally {
          this.stopWaiting()
        }
        if (result.done) break
        yield result.value
      }
      finished = true
    } finally {
      if (!finished) this.kill()
      await chunks.return?.()
    }
  }

  /**
   * Reads output `fd` in the background as it comes, handing each chunk to
   * `onData`, so the program never blocks on it; outcome() then also waits
   * for its end.
   */
  collect(fd: number, onData: (chunk: Buffer) => void): void {
    const stream = this.stream(fd)
    stream.on('data', onData)
    this.collected.push(new Promise((resolve) => {
      stream.once('close', resolve)
      stream.once('error', () => resolve())
    }))
  }

  /**
   * How the program ended, once it has exited and the outputs being
   * collected have ended; call after output() is done. Waiting counts
   * against the timeout.
   */
  async outcome(): Promise<ProcessOutcome> {
    this.startWaiting()
    try {
      await this.exited
      if (this.spawnError === undefined) await Promise.all(this.collected)
    } finally {
      this.stopWaiting()
      this.options.signal.removeEventListener('abort', this.onAbort)
    }
    // Once the whole group is gone, there is nothing left for SIGKILL to do.
    if (this.killTimer !== undefined && !this.groupAlive()) clearTimeout(this.killTimer)
    const outcome: ProcessOutcome = { status: this.exitStatus, signal: this.exitSignal, timedOut: this.timedOut, aborted: this.aborted }
    if (this.spawnError) outcome.spawnError = this.spawnError
    return outcome
  }

  /** Kills the program and its group (unless it is gone already); its outcome says `aborted`. */
  stop(): void {
    if (!this.timedOut) this.aborted = true
    this.kill()
  }

  private stream(fd: number): Readable {
    const stream = this.child.stdio[fd] as Readable | null | undefined
    if (!stream) throw new RangeError(`the program has no output ${fd}`)
    return stream
  }

  private startWaiting(): void {
    if (this.remainingMs === Infinity || this.timedOut || this.waitTimer !== undefined) return
    this.waitStarted = performance.now()
    // setTimeout cannot wait longer than 2^31-1 ms; a longer limit is waited out in steps.
    this.waitTimer = setTimeout(() => {
      this.waitTimer = undefined
      this.remainingMs -= performance.now() - this.waitStarted
      if (this.remainingMs > 1) {
        this.startWaiting()
        return
      }
      this.timedOut = true
      this.kill()
    }, Math.min(Math.max(0, this.remainingMs), MAX_TIMER_MS))
  }

  private stopWaiting(): void {
    if (this.waitTimer === undefined) return
    clearTimeout(this.waitTimer)
    this.waitTimer = undefined
    this.remainingMs -= performance.now() - this.waitStarted
  }

  /** SIGTERM to the program's process group, SIGKILL after the grace period. */
  private kill(): void {
    if (this.killTimer !== undefined || this.child.pid === undefined || !this.groupAlive()) return
    this.signalGroup('SIGTERM')
    this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), this.options.graceMs)
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, signal)
    } catch {
      // ESRCH: the group is gone already.
    }
  }

  private groupAlive(): boolean {
    try {
      process.kill(-this.child.pid!, 0)
      return true
    } catch {
      return false
    }
  }
}
