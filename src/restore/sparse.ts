import { ftruncateSync, writeSync } from 'node:fs'
import { writeAt } from '../util/fd-io.js'

/**
 * Sparse restores (`--sparse`): content is written to a new, empty file
 * with every whole block of zeros at a multiple of HOLE_BYTES left
 * unwritten, and the file's length set at the end (setLength), so those
 * blocks are holes that take no disk space. The content read back is the
 * same; only its allocation differs. A backup does not record which files
 * were sparse, so this applies to every file of the restore: a huge
 * mostly-empty file (/var/log/lastlog with large ids, a disk image) then
 * fits where it came from, but a file that needs its blocks allocated (a
 * swap file) must not be restored this way.
 */

/** The size of a hole: a file-system block of most Linux file systems. */
export const HOLE_BYTES = 4096

const ZEROS = Buffer.alloc(HOLE_BYTES)

/**
 * The parts of `data`, to be written at file offset `position`, that are
 * not whole aligned blocks of zeros: [start, end) offsets into `data`.
 * A block cut by either end of `data` is written (it may not be zero in
 * the part another write holds).
 */
export function dataRuns(data: Uint8Array, position: number): [number, number][] {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const runs: [number, number][] = []
  let runStart = -1
  for (let at = 0; at < bytes.length;) {
    const end = Math.min(bytes.length, at + HOLE_BYTES - ((position + at) % HOLE_BYTES))
    const hole = end - at === HOLE_BYTES && bytes.subarray(at, end).equals(ZEROS)
    if (hole && runStart >= 0) {
      runs.push([runStart, at])
      runStart = -1
    } else if (!hole && runStart < 0) {
      runStart = at
    }
    at = end
  }
  if (runStart >= 0) runs.push([runStart, bytes.length])
  return runs
}

/** writeAt (fd-io.ts), leaving holes where `sparse`. */
export async function writeMaybeSparse(fd: number, data: Buffer, position: number, sparse: boolean): Promise<void> {
  if (!sparse) return writeAt(fd, data, position)
  for (const [start, end] of dataRuns(data, position)) await writeAt(fd, data.subarray(start, end), position + start)
}

/** Writes all of `data` from offset 0, synchronously, leaving holes where `sparse`, and sets the file's length. */
export function writeAllSync(fd: number, data: Uint8Array, sparse: boolean): void {
  const runs: [number, number][] = sparse ? dataRuns(data, 0) : [[0, data.length]]
  for (const [start, end] of runs) {
    for (let done = start; done < end;) done += writeSync(fd, data, done, end - done, done)
  }
  if (sparse) setLength(fd, data.length)
}

/** The file's length, which holes at its end did not set. */
export function setLength(fd: number, bytes: number): void {
  ftruncateSync(fd, bytes)
}
