import { closeSync, openSync, writeSync } from 'node:fs'
import { ReadStream } from 'node:tty'
import { UsageError, UserError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import { HiddenLineEditor } from './hidden-line-editor.js'

/** The controlling terminal, which prompts use rather than stdin/stderr (those may be pipes or logs). */
export const CONTROLLING_TERMINAL = '/dev/tty'

/** Ctrl-C at a prompt. Exit status 130 (EXIT.INTERRUPTED). */
export class InterruptedError extends UserError {
  override readonly name = 'InterruptedError'
  constructor() {
    super('interrupted', EXIT.INTERRUPTED)
  }
}

/** A terminal opened for one conversation (prompts and answers); close() it after. */
export class Terminal {
  private readonly input: ReadStream

  private constructor(private readonly fd: number) {
    this.input = new ReadStream(fd)
    this.input.pause()
  }

  /**
   * Opens the terminal at `path` (the controlling terminal by default).
   * Throws UsageError when there is none (a cron job, a systemd unit, a
   * pipeline without a terminal), naming `alternative` as the way out.
   */
  static open(path: string, alternative: string): Terminal {
    let fd: number
    try {
      fd = openSync(path, 'r+')
    } catch (err) {
      throw new UsageError(`no terminal to ask on (${path}: ${(err as NodeJS.ErrnoException).code ?? 'cannot open'}); ${alternative}`)
    }
    try {
      return new Terminal(fd)
    } catch (err) {
      closeSync(fd)
      throw new UsageError(`${path} is not a terminal; ${alternative}`)
    }
  }

  write(text: string): void {
    writeSync(this.fd, text)
  }

  /**
   * Shows `prompt` and reads one line with echo off (raw mode, edited by
   * HiddenLineEditor). Returns its bytes; the caller zeroes them. Throws
   * InterruptedError at Ctrl-C, UsageError at end of input or when the line
   * is longer than maxBytes. The terminal's mode is restored in every case.
   */
  async readHidden(prompt: string, maxBytes: number): Promise<Buffer> {
    const editor = new HiddenLineEditor(maxBytes)
    // Echo goes off before the prompt shows, so nothing typed ahead of it is echoed either.
    this.input.setRawMode(true)
    try {
      this.write(prompt)
      return await new Promise<Buffer>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          const state = editor.feed(chunk)
          chunk.fill(0)
          if (state === 'more') return
          finish()
          if (state === 'done') resolve(editor.take())
          else if (state === 'interrupt') reject(new InterruptedError())
          else if (state === 'eof') reject(new UsageError('no password given (end of input at the prompt)'))
          else reject(new UsageError(`password longer than ${maxBytes} bytes`))
        }
        const onEnd = () => { finish(); reject(new UsageError('no password given (the terminal closed)')) }
        const onError = (err: Error) => { finish(); reject(err) }
        const finish = () => {
          this.input.off('data', onData).off('end', onEnd).off('error', onError)
          this.input.pause()
        }
        this.input.on('data', onData).on('end', onEnd).on('error', onError)
        this.input.resume()
      })
    } finally {
      editor.wipe()
      this.input.setRawMode(false)
      this.write('\n') // the Enter was not echoed
    }
  }

  /** Shows `prompt` and reads one line with echo on (the terminal's own line editing). */
  async readVisible(prompt: string, maxBytes = 1024): Promise<string> {
    this.write(prompt)
    const chunks: Buffer[] = []
    let size = 0
    return new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        chunks.push(chunk)
        size += chunk.length
        const text = Buffer.concat(chunks).toString('utf8')
        const newline = text.indexOf('\n')
        if (newline >= 0) { finish(); resolve(text.slice(0, newline).replace(/\r$/, '')) }
        else if (size > maxBytes) { finish(); reject(new UsageError(`answer longer than ${maxBytes} bytes`)) }
      }
      const onEnd = () => { finish(); reject(new UsageError('no answer given (end of input at the prompt)')) }
      const onError = (err: Error) => { finish(); reject(err) }
      const finish = () => {
        this.input.off('data', onData).off('end', onEnd).off('error', onError)
        this.input.pause()
      }
      this.input.on('data', onData).on('end', onEnd).on('error', onError)
      this.input.resume()
    })
  }

  /** Closes the terminal (and its file descriptor). */
  close(): void {
    this.input.destroy()
  }
}
