import { spawn, type ChildProcess } from 'node:child_process'
import type { Writable } from 'node:stream'

/** How a picker run ended. */
export interface PickerOutcome {
  /** Exit status, when it exited. */
  status: number | null
  /** The signal that ended it, when one did. */
  signal: NodeJS.Signals | null
  /** Killed because it used up its time. */
  timedOut: boolean
  /** Killed because the stage was stopped (ctx.signal). */
  aborted: boolean
  /** It could not be started at all (EACCES, ENOEXEC…). */
  spawnError?: NodeJS.ErrnoException
}

export interface PickerOptions {
  /**
   * Seconds the picker may keep us waiting, 0 for no limit. Only time spent
   * waiting for its output or its exit counts: a picker blocked on a full
   * pipe because the stages downstream are slow is not using its time.
   */
  timeoutSeconds: number
  /** Between SIGTERM and SIGKILL to the picker's process group, in milliseconds. */
  graceMs: number
  env: NodeJS.ProcessEnv
  /** Where the picker's standard error goes: our own, so messages reach the user. */
  stderr: Writable
  /** Aborting it kills the picker. */
  signal: AbortSignal
}

/** Between SIGTERM and SIGKILL, in milliseconds. */
export const KILL_GRACE_MS = 2000

const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * One picker process: run with standard input from /dev/null, in `/`, in a
 * process group of its own (so that killing it also kills a `find` it
 * started), its standard error passed through. Read its output with
 * `output()`, then ask `outcome()` how it ended.
 */
export class PickerProcess {
  private readonly child: ChildProcess
  private readonly exited: Promise<void>
  private exitStatus: number | null = null
  private exitSignal: NodeJS.Signals | null = null
  private spawnError: NodeJS.ErrnoException | undefined
  private hasExited = false
  private timedOut = false
  private aborted = false
  private remainingMs: number
  private waitTimer: NodeJS.Timeout | undefined
  private waitStarted = 0
  private killTimer: NodeJS.Timeout | undefined
  private readonly onAbort = () => {
    this.aborted = true
    this.kill()
  }

  constructor(readonly file: string, private readonly options: PickerOptions) {
    this.remainingMs = options.timeoutSeconds > 0 ? options.timeoutSeconds * 1000 : Infinity
    const inheritStderr = options.stderr === process.stderr
    this.child = spawn(file, [], {
      cwd: '/',
      env: options.env,
      detached: true, // its own process group (and session)
      stdio: ['ignore', 'pipe', inheritStderr ? 'inherit' : 'pipe'],
    })
    if (!inheritStderr) this.child.stderr!.on('data', (chunk: Buffer) => options.stderr.write(chunk))
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (status, signal) => {
        this.hasExited = true
        this.exitStatus = status
        this.exitSignal = signal
        // Killed and gone: what is left of its group (if anything) still gets
        // SIGKILL if we run that long, but it must not keep us from exiting.
        this.killTimer?.unref()
        resolve()
      })
      this.child.once('error', (err) => {
        // Only a failure to start, for a process we never write to.
        this.hasExited = true
        this.spawnError = err
        resolve()
      })
    })
    if (options.signal.aborted) this.onAbort()
    else options.signal.addEventListener('abort', this.onAbort, { once: true })
  }

  /**
   * The picker's standard output, chunk by chunk, as it comes. Ends at end
   * of file, which a kill brings about. Stopping early kills the picker.
   */
  async *output(): AsyncGenerator<Buffer> {
    const chunks = this.child.stdout![Symbol.asyncIterator]() as AsyncIterator<Buffer>
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

  /** How the picker ended; call after output() is done. */
  async outcome(): Promise<PickerOutcome> {
    this.startWaiting()
    try {
      await this.exited
    } finally {
      this.stopWaiting()
      this.options.signal.removeEventListener('abort', this.onAbort)
    }
    // Once the whole group is gone, there is nothing left for SIGKILL to do.
    if (this.killTimer !== undefined && !this.groupAlive()) clearTimeout(this.killTimer)
    const outcome: PickerOutcome = { status: this.exitStatus, signal: this.exitSignal, timedOut: this.timedOut, aborted: this.aborted }
    if (this.spawnError) outcome.spawnError = this.spawnError
    return outcome
  }

  private startWaiting(): void {
    if (this.remainingMs === Infinity || this.timedOut) return
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

  /** SIGTERM to the picker's process group, SIGKILL after the grace period. */
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
