import { ownMemory, WorkerPool } from '../util/worker-pool.js'
import type { DecodeMessage, WriteAnswer, WriteMessage } from './decode-job.js'
import type { FileOwner } from './file-writer.js'
import type { DirHandle } from './target-dirs.js'

/** What a worker made of one body: the decoded bytes written to the file, and their SHA-256. */
export interface Decoded {
  bytes: number
  sha256: string
}

/**
 * Worker threads (decode-job.ts) that decode (gunzip) bodies already in
 * memory, hash them and write them into the files being restored, or make
 * those files whole: work taken off the main thread, which a restore of
 * many small files is bound by (the records and promises stay there). The 20,000-file local restore on
 * tmpfs, 3 pairs: 12.07 s against 13.58 with the main thread decoding;
 * peak RSS 222-231 MB against 208 (250 when bodies were copied to the
 * worker and it did not collect its own garbage). The descriptor is
 * shared (descriptors belong to the process), and the promise settles
 * only once the worker has finished writing to it, so the caller's close
 * comes after the last write.
 */
export class DecodeWorkers {
  private readonly pool: WorkerPool

  constructor(size?: number) {
    this.pool = new WorkerPool(new URL('./decode-job.js', import.meta.url), 'restore decode', size)
  }

  /**
   * Writes `body` (gunzipped when `gzip`, to at most `maxOutput` bytes) into
   * `fd` from offset 0; resolves with the bytes written and their SHA-256.
   * A body that is the whole of its memory is moved to the worker: it is
   * empty (detached) here once this returns. Others are copied.
   * Rejects with the worker's error: its code (ERR_BUFFER_TOO_LARGE, Z_…,
   * ENOSPC…) kept.
   */
  decodeInto(fd: number, body: Uint8Array, gzip: boolean, maxOutput: number): Promise<Decoded> {
    const message: DecodeMessage = { kind: 'decode', fd, body, gzip, maxOutput }
    return this.pool.run(message, moved(body))
  }

  /**
   * Makes `name` in `dir` a file holding `body` (gunzipped when `gzip`, to
   * at most `maxOutput` bytes) with the given owner, mode and times, as
   * writeFile does, but only when the content hashes to `expect.sha256`
   * (and has `expect.size` bytes, when given). Resolves with what the
   * content decoded to; `written` is null when it was not what was
   * expected, and then nothing was written. `dir` must stay acquired until
   * this settles. The body is moved or copied as in decodeInto; errors
   * come back as there (EACCES, EISDIR… from making the file).
   */
  writeFile(dir: DirHandle, name: Buffer, body: Uint8Array, gzip: boolean, maxOutput: number, expect: { sha256: string, size: number | undefined }, owner: FileOwner): Promise<WriteAnswer> {
    const message: WriteMessage = { kind: 'write', dirFd: dir.fd, name, body, gzip, maxOutput, sha256: expect.sha256, size: expect.size, owner }
    return this.pool.run(message, moved(body))
  }

  /** Ends the workers. Call once nothing is pending. */
  close(): Promise<void> {
    return this.pool.close()
  }
}

/** The body's memory, when the body is the whole of it: moved to the worker rather than copied. */
function moved(body: Uint8Array): ArrayBuffer[] {
  const memory = ownMemory(body)
  return memory !== undefined ? [memory] : []
}
