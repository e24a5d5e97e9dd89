import { read, write } from 'node:fs'

/**
 * Reads and writes on numeric descriptors, through the thread pool.
 *
 * Why numbers, and why the calls around them are synchronous: a restore is
 * bound by what it costs per file, and on the project's machines a
 * FileHandle open and close took 83 µs where openSync and closeSync took
 * 4.6 µs, and an awaited lstat 35 µs where lstatSync took 12 µs. So the
 * quick metadata calls on the target (open, fstat, fchown, fchmod,
 * rename, close…) are made synchronously, and only content — reads and
 * writes that can be long — goes through the thread pool, here.
 */

/** Reads up to `length` bytes at `position` into `buf` from `offset`; resolves with the count (0 at end of file). */
export function readAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)))
  })
}

/** Writes all of `buf` at `position`. */
export async function writeAt(fd: number, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length;) {
    done += await new Promise<number>((resolve, reject) => {
      write(fd, buf, done, buf.length - done, position + done, (err, n) => (err ? reject(err) : resolve(n)))
    })
  }
}
