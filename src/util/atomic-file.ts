import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Replaces `file` with `chunks`, written in turn (each pulled once the
 * previous one is written), atomically and durably: a temporary file in
 * the same directory, fsync'ed, renamed over the old one, then the
 * directory fsync'ed, so a crash leaves the old content or the new, never
 * a mix. Creates the directory (with `dirMode`) when missing. Throws the
 * filesystem error when it cannot, leaving no temporary file behind.
 */
export async function writeFileAtomic(file: string, chunks: Iterable<Buffer>, modes: { dirMode: number, fileMode: number }): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true, mode: modes.dirMode })
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(temp, 'wx', modes.fileMode)
  try {
    try {
      // writeFile writes all of a chunk (write may stop short), from where the last one ended.
      for (const chunk of chunks) await handle.writeFile(chunk)
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
