import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Replaces `file` with `chunks`, written in turn (each pulled once the
 * previous one is written), atomically and durably: a temporary file in
 * the same directory, fsync'ed, renamed over the old one, then the
 * directory fsync'ed, so a crash leaves the old content or the new, never
 * a mix. Creates the directory (with `dirMode`) when missing; without
 * `dirMode` it must exist. Throws the filesystem error when it cannot, or
 * the error `chunks` throws, leaving `file` as it was and no temporary
 * file behind. Temporary files of `file` left by processes that no longer
 * run (killed while writing it) are removed as it is written.
 */
export async function writeFileAtomic(file: string, chunks: Iterable<Buffer> | AsyncIterable<Buffer>, modes: { dirMode?: number, fileMode: number }): Promise<void> {
  const dir = dirname(file)
  if (modes.dirMode !== undefined) await mkdir(dir, { recursive: true, mode: modes.dirMode })
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await removeStaleTemps(file).catch(() => {}) // a leftover only costs its space
  const handle = await open(temp, 'wx', modes.fileMode)
  try {
    try {
      // writeFile writes all of a chunk (write may stop short), from where the last one ended.
      for await (const chunk of chunks) await handle.writeFile(chunk)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (err) {
    await unlink(temp).catch(() => {})
    throw err
  }
  await syncDirectory(dir)
}

/** Unlinks `file`'s temporary files (`file.PID.HEX.tmp`) whose process no longer runs. */
async function removeStaleTemps(file: string): Promise<void> {
  const prefix = `${basename(file)}.`
  for (const name of await readdir(dirname(file))) {
    const pid = name.startsWith(prefix) ? /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length))?.[1] : undefined
    if (pid !== undefined && !running(Number(pid))) await unlink(join(dirname(file), name)).catch(() => {})
  }
}

/** Whether process `pid` exists (EPERM: it does, owned by someone else). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Makes a rename durable; some filesystems cannot fsync a directory, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // EINVAL/EISDIR on filesystems without directory fsync: the rename still happened.
  }
}
