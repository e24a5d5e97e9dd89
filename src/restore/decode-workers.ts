import { ownMemory, WorkerPool } from '../util/worker-pool.js'
import type { BodyInFile, WriteAnswer, WriteMessage } from './decode-job.js'
import type { FileOwner } from './file-writer.js'
import type { DirHandle } from './target-dirs.js'

/**
 * Worker threads (decode-job.ts) that make restored files whole from
 * bodies already in memory: gunzip, SHA-256, then the file itself. Work
 * taken off the main thread, which a restore of many small files is bound
 * by (the records and promises stay there). The 20,000-file local restore
 * on tmpfs, 5 pairs: median ratio 0.96 against writing the file on the
 * main thread from a body the worker decoded (and 12.07 s against 13.58
 * with the main thread decoding too, 3 pairs; peak RSS 222-231 MB against
 * 208).
 */
export class DecodeWorkers {
  private readonly pool: WorkerPool

  constructor(size?: number) {
    this.pool = new WorkerPool(new URL('./decode-job.js', import.meta.url), 'restore decode', size)
  }

  /**
   * Makes `name` in `dir` a file holding `body` (gunzipped when `gzip`, to
   * at most `maxOutput` bytes) with the given owner, mode and times, as
   * writeFile does, but only when the content hashes to `expect.sha256`
   * (and has `expect.size` bytes, when given). Resolves with what the
   * content decoded to; `written` is null when it was not what was
   * expected, and then nothing was written. `dir` must stay acquired until
   * this settles. A body that is the whole of its memory is moved to the
   * worker: it is empty (detached) here once this returns; others are
   * copied. Rejects with the worker's error, its code kept
   * (ERR_BUFFER_TOO_LARGE, Z_…, and EACCES, EISDIR… from making the file).
   * `sparse`: whole blocks of zeros are left as holes (sparse.ts). A body
   * given as its file (Store.bodyFile) is read by the worker; when there is
   * no such file, nothing is written and the answer says `bodyMissing`.
   */
  writeFile(dir: DirHandle, name: Buffer, body: Uint8Array | BodyInFile, gzip: boolean, maxOutput: number, expect: { sha256: string, size: number | undefined }, owner: FileOwner, sparse = false): Promise<WriteAnswer> {
    const message: WriteMessage = { dirFd: dir.fd, name, body, gzip, maxOutput, sha256: expect.sha256, size: expect.size, owner, sparse }
    return this.pool.run(message, body instanceof Uint8Array ? moved(body) : [])
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
