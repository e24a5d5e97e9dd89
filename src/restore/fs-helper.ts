import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { futimesSync, lutimesSync } from 'node:fs'
import { lutimes } from 'node:fs/promises'
import type { Readable, Writable } from 'node:stream'
import { Fifo } from '../util/fifo.js'

/**
 * The program of the helper: requests on stdin, NUL-separated fields
 * `op id a b path` (op T: set times, a = atime and b = mtime in
 * nanoseconds; op N: mknod, a = mode with type bits, b = rdev; op X: set
 * an extended attribute, a = its name, b = its value in base64), one answer
 * line per request on stdout, in order: `id 0` or `id ERRNO-NAME`. Nothing
 * is ever followed: times are set with follow_symlinks=False
 * (utimensat(AT_SYMLINK_NOFOLLOW)), attributes with lsetxattr, and mknod
 * never follows its last component.
 */
const HELPER_SOURCE = String.raw`
import base64, errno, os, sys
inp = sys.stdin.buffer.raw
out = sys.stdout.buffer
out.write(b'ready\n'); out.flush()
pending = b''
while True:
    chunk = inp.read(1 << 16)
    if not chunk:
        break
    pending += chunk
    fields = pending.split(b'\0')
    pending = fields.pop()
    # A request has five fields; keep an incomplete one for the next read.
    whole = len(fields) - len(fields) % 5
    pending = b'\0'.join(fields[whole:] + [pending])
    answers = []
    for i in range(0, whole, 5):
        op, rid, a, b, path = fields[i:i + 5]
        try:
            if op == b'T':
                os.utime(path, ns=(int(a), int(b)), follow_symlinks=False)
            elif op == b'N':
                os.mknod(path, int(a), int(b))
            elif op == b'X':
                os.setxattr(path, a, base64.b64decode(b, validate=True), follow_symlinks=False)
            else:
                raise OSError(errno.EINVAL, 'unknown request')
            answers.append(rid + b' 0\n')
        except OSError as e:
            answers.append(rid + b' ' + errno.errorcode.get(e.errno, 'EIO').encode() + b'\n')
        except (ValueError, OverflowError):
            answers.append(rid + b' EINVAL\n')
    out.write(b''.join(answers)); out.flush()
`

/** A failure the helper reported for one request: an errno name as `code`. */
export class HelperError extends Error {
  constructor(readonly code: string) {
    super(code)
  }
}

interface Pending {
  id: number
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * What Node cannot do with full fidelity, done by one long-lived python3
 * process: setting extended attributes, times to the nanosecond (Node's utimes takes double
 * seconds, which near 1.7e9 s cannot hold most nanosecond values — checked:
 * 998 of 1000 random values came back different) and creating FIFOs,
 * sockets and device nodes (Node has no mknod). Requests are pipelined;
 * each answer resolves its promise.
 *
 * Without python3 (`available` false, `unavailable` says why): times are
 * set with Node's lutimes, exact to about a quarter microsecond, and mknod
 * fails with HelperError ENOSYS.
 *
 * Paths are given as the child sees them (DirHandle.forChild), so the
 * helper, too, resolves nothing on disk but the last component.
 */
export class FsHelper {
  private readonly pending = new Fifo<Pending>()
  /** Requests not yet written: they go out together, once per turn of the event loop (a pipe write and a wakeup of the helper each cost more than the request). */
  private outgoing: Buffer[] = []
  /** A flush is due at the next turn of the event loop. */
  private flushSoon = false
  /** The flush of `later` requests, when only those wait. */
  private laterTimer: NodeJS.Timeout | undefined
  private nextId = 1
  private buffered = ''
  private failed: Error | undefined

  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, null> | null,
    readonly unavailable: string | undefined,
  ) {
    if (child === null) return
    child.stdout.setEncoding('latin1')
    child.stdout.on('data', (text: string) => this.onAnswers(text))
    child.stdin.on('error', () => {})
    child.on('exit', (code, signal) => this.fail(new HelperError(`the python3 helper ended (${signal ?? `status ${code}`})`)))
  }

  /** Starts the helper with `env` (PATH; credentials scrubbed by the caller). */
  static async start(env: NodeJS.ProcessEnv): Promise<FsHelper> {
    let child: ChildProcessByStdio<Writable, Readable, null>
    try {
      child = spawn('python3', ['-c', HELPER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'], env })
    } catch (err) {
      return new FsHelper(null, `python3 cannot be started: ${(err as Error).message}`)
    }
    const ready = await new Promise<string | null>((resolve) => {
      let text = ''
      const onData = (chunk: Buffer) => {
        text += chunk.toString('latin1')
        if (text.includes('\n')) { cleanup(); resolve(text.startsWith('ready\n') ? null : `python3 said ${JSON.stringify(text)}`) }
      }
      const onError = (err: NodeJS.ErrnoException) => { cleanup(); resolve(`python3 ${err.code === 'ENOENT' ? 'was not found on PATH' : `cannot be started: ${err.message}`}`) }
      const onExit = (code: number | null) => { cleanup(); resolve(`python3 exited with status ${code}`) }
      const cleanup = () => { child.stdout.off('data', onData); child.off('error', onError); child.off('exit', onExit) }
      child.stdout.on('data', onData)
      child.on('error', onError)
      child.on('exit', onExit)
    })
    if (ready !== null) {
      child.kill()
      return new FsHelper(null, ready)
    }
    return new FsHelper(child, undefined)
  }

  get available(): boolean {
    return this.child !== null
  }

  /** Requests sent to the helper so far. */
  get sent(): number {
    return this.nextId - 1
  }

  /**
   * Sets the access and modification times of `path` (not following a
   * symlink there), in nanoseconds since the epoch. Rejects with HelperError.
   * Times in whole seconds from 1970 on are set here, synchronously: Node
   * passes them exactly (it loses only digits below the microsecond, and
   * takes a time before 1970 for "now"), and most files of a system have
   * them (package managers unpack with whole-second times), so most files
   * cost no round trip to the helper (a pipe write and an answer to read,
   * ~40 µs of this thread each). A request made `later` is sent with the
   * next one made now, or once LATER_BATCH are waiting, or after LATER_MS:
   * for a caller that does not wait for the answer, fewer pipe writes and
   * wakeups of the helper (which takes the other core while it runs).
   */
  setTimes(path: Buffer, atimeNs: bigint, mtimeNs: bigint, when: 'now' | 'later' = 'now'): Promise<void> {
    if (wholeSecondsSince1970(atimeNs) && wholeSecondsSince1970(mtimeNs)) {
      try {
        lutimesSync(path, Number(atimeNs / NS_PER_SECOND), Number(mtimeNs / NS_PER_SECOND))
        return Promise.resolve()
      } catch (err) {
        return Promise.reject(new HelperError((err as NodeJS.ErrnoException).code ?? 'EIO'))
      }
    }
    if (this.child === null) {
      return lutimes(path, Number(atimeNs) / 1e9, Number(mtimeNs) / 1e9)
        .catch((err: NodeJS.ErrnoException) => { throw new HelperError(err.code ?? 'EIO') })
    }
    return this.request('T', atimeNs.toString(), mtimeNs.toString(), path, when)
  }

  /** Creates a FIFO, socket or device node at `path`; `mode` includes the type bits. Rejects with HelperError. */
  mknod(path: Buffer, mode: number, rdev: number): Promise<void> {
    if (this.child === null) return Promise.reject(new HelperError('ENOSYS'))
    return this.request('N', String(mode), String(rdev), path)
  }

  /**
   * Sets the extended attribute `name` of the entry at `path` (not
   * following a symlink there) to the bytes of `valueB64`. Rejects with
   * HelperError; ENOSYS without python3 (Node has no call for it).
   * `later`: see setTimes.
   */
  setXattr(path: Buffer, name: string, valueB64: string, when: 'now' | 'later' = 'now'): Promise<void> {
    if (this.child === null) return Promise.reject(new HelperError('ENOSYS'))
    return this.request('X', name, valueB64, path, when)
  }

  private request(op: string, a: string, b: string, path: Buffer, when: 'now' | 'later' = 'now'): Promise<void> {
    if (this.failed) return Promise.reject(this.failed)
    const id = this.nextId++
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ id, resolve, reject })
      this.outgoing.push(Buffer.from(`${op}\0${id}\0${a}\0${b}\0`), path, NUL)
      if (when === 'now' || this.outgoing.length >= 3 * LATER_BATCH) {
        if (!this.flushSoon) {
          this.flushSoon = true
          setImmediate(() => this.flush())
        }
      } else this.laterTimer ??= setTimeout(() => this.flush(), LATER_MS)
    })
  }

  private flush(): void {
    this.flushSoon = false
    clearTimeout(this.laterTimer)
    this.laterTimer = undefined
    if (this.outgoing.length === 0) return
    const requests = Buffer.concat(this.outgoing)
    this.outgoing = []
    if (this.failed === undefined) this.child!.stdin.write(requests)
  }

  private onAnswers(text: string): void {
    this.buffered += text
    let newline: number
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline)
      this.buffered = this.buffered.slice(newline + 1)
      const [id, code] = line.split(' ')
      const waiter = this.pending.shift()
      if (waiter === undefined || String(waiter.id) !== id) {
        this.fail(new HelperError(`the python3 helper answered out of turn: ${JSON.stringify(line)}`))
        return
      }
      if (code === '0') waiter.resolve()
      else waiter.reject(new HelperError(code ?? 'EIO'))
    }
  }

  private fail(err: Error): void {
    this.failed ??= err
    for (const waiter of this.pending.drain()) waiter.reject(err)
  }

  /** Waits for every answer, then ends the helper. */
  async close(): Promise<void> {
    const child = this.child
    if (child === null || child.exitCode !== null) return
    this.flush()
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve())
      child.stdin.end()
    })
  }
}

const NUL = Buffer.from([0])
/** `later` requests sent in one pipe write at most: about 30 KiB of them. */
const LATER_BATCH = 256
/** How long a `later` request waits for others at most. */
const LATER_MS = 20
const NS_PER_SECOND = 1_000_000_000n

/**
 * Sets the times of an open file, when they are whole seconds from 1970
 * on (see FsHelper.setTimes): true when set. False when they are not, or
 * the call failed; the caller then sets them by path with setTimes, which
 * reports any problem. Saves a file written through a descriptor the
 * path's lookup and the promise. Needs no helper: a worker thread can call it.
 */
export function setFileTimes(fd: number, atimeNs: bigint, mtimeNs: bigint): boolean {
  if (!wholeSecondsSince1970(atimeNs) || !wholeSecondsSince1970(mtimeNs)) return false
  try {
    futimesSync(fd, Number(atimeNs / NS_PER_SECOND), Number(mtimeNs / NS_PER_SECOND))
    return true
  } catch {
    return false
  }
}

function wholeSecondsSince1970(ns: bigint): boolean {
  return ns >= 0n && ns % NS_PER_SECOND === 0n
}
