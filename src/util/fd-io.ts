import { closeSync, read, readSync, write, writeSync } from 'node:fs'

/**
 * Reads and writes on numeric descriptors, through the thread pool.
 *
 * Why numbers, and why the calls around them are synchronous: a restore,
 * and a backup's reading of the files it hashes and stores, are bound by
 * what they cost per file. On the project's machines a FileHandle open and
 * close took 83 µs where openSync and closeSync took 4.6 µs, and an awaited
 * lstat 35 µs where lstatSync took 12 µs: each trip through the pool wakes
 * a pool thread that takes the main thread's core on a 2-core machine. So
 * the quick metadata calls (lstat, open, fstat, fchown, fchmod, rename,
 * close…) are made synchronously, and only content — reads and writes that
 * can be long, or wait for a disk — goes through the thread pool, here.
 * (A first backup of the 20,000-file bench tree, side by side: 27.3 s
 * against 31.0 with the hash and upload stages' FileHandles.) A write of
 * up to 64 KiB (most files' whole content) is made at once too: a trip
 * through the pool per file cost more than the copy into the page cache
 * (the 20,000-file local restore, side by side: ~3% of its wall and CPU).
 *
 * Unlike a FileHandle's close, closeSync does not wait for a read or write
 * still queued in the pool, whose descriptor number may then belong to
 * another file or a socket: callers close a descriptor only once every
 * readAt and writeAt on it has settled.
 */

/** Reads up to `length` bytes at `position` into `buf` from `offset`; resolves with the count (0 at end of file). */
export function readAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)))
  })
}

/**
 * The first `size` bytes of `fd` (fewer when the file is shorter), read
 * synchronously: for a body known to be small, whose reads cost less
 * than a trip through the pool.
 */
export function readStartSync(fd: number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size)
  let done = 0
  for (let n; done < bytes.length && (n = readSync(fd, bytes, done, bytes.length - done, done)) > 0;) done += n
  return bytes.subarray(0, done)
}

/** Writes all of `buf` at `position`. */
export async function writeAt(fd: number, buf: Buffer, position: number): Promise<void> {
  if (buf.length <= SYNC_WRITE_BYTES) {
    for (let done = 0; done < buf.length;) done += writeSync(fd, buf, done, buf.length - done, position + done)
    return
  }
  for (let done = 0; done < buf.length;) {
    done += await new Promise<number>((resolve, reject) => {
      write(fd, buf, done, buf.length - done, position + done, (err, n) => (err ? reject(err) : resolve(n)))
    })
  }
}

/** Writes up to this size are made on this thread (see the top of this file). */
const SYNC_WRITE_BYTES = 64 * 1024

/** Closes a descriptor only read from: a failure to close it loses nothing. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd)
  } catch {
    // EBADF, EIO: nothing was written through it
  }
}
