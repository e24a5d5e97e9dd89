import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import { Fifo } from '../../util/fifo.js'

/**
 * The program of the reader: batches of NUL-terminated paths on stdin,
 * each batch ended by an empty path (a second NUL); for each batch, on
 * stdout, a line `INDEX NAME VALUE` per extended attribute of the batch's
 * INDEX-th path (NAME and VALUE in base64, the value possibly empty), a
 * line `INDEX ! ERRNO-NAME` for a path whose attributes could not be
 * listed, and a line `.` at the end. Nothing is followed: a symlink's own
 * attributes are read (llistxattr, lgetxattr), the POSIX ACLs that Linux
 * keeps as `system.posix_acl_*` attributes included. A file system without
 * extended attributes (ENOTSUP) has none to report.
 */
const READER_SOURCE = String.raw`
import base64, errno, os, sys
inp = sys.stdin.buffer.raw
out = sys.stdout.buffer
b64 = base64.b64encode
pending = b''
index = 0
answers = []
while True:
    chunk = inp.read(1 << 16)
    if not chunk:
        break
    fields = (pending + chunk).split(b'\0')
    pending = fields.pop()
    for path in fields:
        if path == b'':
            answers.append(b'.\n')
            out.write(b''.join(answers)); out.flush()
            answers = []
            index = 0
            continue
        try:
            for name in os.listxattr(path, follow_symlinks=False):
                try:
                    value = os.getxattr(path, name, follow_symlinks=False)
                except OSError as e:
                    if e.errno == errno.ENODATA:
                        continue
                    raise
                answers.append(b'%d %s %s\n' % (index, b64(os.fsencode(name)), b64(value)))
        except OSError as e:
            if e.errno != errno.ENOTSUP:
                answers.append(b'%d ! %s\n' % (index, errno.errorcode.get(e.errno, 'EIO').encode()))
        index += 1
`

/** What the reader found for one batch of paths. */
export interface XattrBatch {
  /** By the path's index in the batch: its attributes, name (as bytes) and value, in the order listed. Paths without are absent. */
  attributes: Map<number, { name: Buffer, value: string }[]>
  /** Paths whose attributes could not be listed: index and errno name. */
  failures: { index: number, code: string }[]
  /** Set when python3 could not be run: why (then nothing else is). */
  unavailable?: string
}

interface Waiting {
  resolve: (batch: XattrBatch) => void
  batch: XattrBatch
}

/**
 * Reads the extended attributes of many paths with one long-lived python3
 * process (Node has no call for them): a batch of paths is one pipe write
 * and one answer, so a run costs one process, not one per file or batch.
 * Batches are answered in the order they were asked. Started by start()
 * or the first batch; close() ends it.
 */
export class XattrReader {
  private child: ChildProcessByStdio<Writable, Readable, null> | null = null
  private unavailable: string | undefined
  private readonly waiting = new Fifo<Waiting>()
  private buffered = ''

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /**
   * Starts python3 now, if it has not started, so its start-up (~15 ms, or
   * a pyenv shim's ~140 ms) overlaps the caller's own instead of
   * delaying the first batch.
   */
  start(): void {
    if (this.unavailable === undefined && this.child === null) this.spawn()
  }

  /** The attributes of the NUL-terminated `paths`, by their index. */
  read(paths: Buffer): Promise<XattrBatch> {
    this.start()
    if (this.unavailable !== undefined) return Promise.resolve(unavailableBatch(this.unavailable))
    return new Promise((resolve) => {
      this.waiting.push({ resolve, batch: { attributes: new Map(), failures: [] } })
      this.child!.stdin.write(paths)
      this.child!.stdin.write(NUL)
    })
  }

  /** Ends the reader (it exits when its input does); batches still waiting are answered as unavailable. */
  close(): void {
    const child = this.child
    if (child === null) return
    this.child = null
    child.stdin.end()
    this.fail('the reader was closed')
  }

  private spawn(): void {
    let child: ChildProcessByStdio<Writable, Readable, null>
    try {
      child = spawn('python3', ['-c', READER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'], env: this.env })
    } catch (err) {
      this.unavailable = `python3 cannot be started: ${(err as Error).message}`
      return
    }
    this.child = child
    child.stdout.setEncoding('latin1')
    child.stdout.on('data', (text: string) => this.onAnswers(text))
    child.stdin.on('error', () => {}) // reported through 'exit'
    child.on('error', (err: NodeJS.ErrnoException) => {
      this.fail(err.code === 'ENOENT' ? 'python3 was not found on PATH' : `python3 cannot be started: ${err.message}`)
    })
    child.on('exit', (code, signal) => {
      if (this.child === child) this.fail(`python3 ended (${signal ?? `status ${code}`})`)
    })
  }

  private onAnswers(text: string): void {
    this.buffered += text
    let start = 0
    let newline: number
    while ((newline = this.buffered.indexOf('\n', start)) >= 0) {
      const line = this.buffered.slice(start, newline)
      start = newline + 1
      const current = this.waiting.first()
      if (current === undefined) continue // answers after close
      if (line === '.') {
        this.waiting.shift()
        current.resolve(current.batch)
        continue
      }
      const [index, name, value] = line.split(' ') as [string, string, string | undefined]
      if (name === '!') {
        current.batch.failures.push({ index: Number(index), code: value ?? 'EIO' })
        continue
      }
      const list = current.batch.attributes.get(Number(index))
      const attribute = { name: Buffer.from(name, 'base64'), value: value ?? '' }
      if (list === undefined) current.batch.attributes.set(Number(index), [attribute])
      else list.push(attribute)
    }
    this.buffered = this.buffered.slice(start)
  }

  /** No more answers will come: every waiting batch, and every later one, is unavailable for `why`. */
  private fail(why: string): void {
    this.unavailable ??= why
    for (const waiting of this.waiting.drain()) waiting.resolve(unavailableBatch(this.unavailable))
  }
}

function unavailableBatch(why: string): XattrBatch {
  return { attributes: new Map(), failures: [], unavailable: why }
}

const NUL = Buffer.from([0])
