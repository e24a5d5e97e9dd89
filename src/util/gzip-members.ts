import { open } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'

const gzipAsync = promisify(gzip)

export interface GzipMembersOptions {
  /** zlib level of every member. */
  level: number
  /** Input bytes per member, about (a member ends at the first chunk boundary past it). */
  memberBytes: number
  /** Members compressed at once, in the thread pool (default: the machine's cores). */
  parallel?: number
}

/**
 * Writes `chunks` gzip-compressed to a new file `path` (mode 0600; it must
 * not exist), as a series of gzip members of about `memberBytes` of input
 * each, compressed `parallel` at a time and written in order.
 *
 * Why members: a zlib stream compresses one chunk at a time, on one
 * thread, while the caller waits. The concatenation of gzip members is
 * one gzip file (RFC 1952, 2.2): gunzip, zcat, Python's gzip and Node's
 * gunzip read it as the whole text. Each member restarts the compression
 * dictionary, which at 1 MiB members costs well under 1% of the size.
 * Holds at most `parallel` members' input and output at once.
 */
export async function writeGzipMembers(chunks: AsyncIterable<Buffer>, path: string, options: GzipMembersOptions): Promise<void> {
  const parallel = options.parallel ?? availableParallelism()
  const handle = await open(path, 'wx', 0o600)
  const compressing: Promise<Buffer>[] = []
  try {
    const writeOldest = async () => {
      const member = await compressing.shift()!
      await handle.write(member)
    }
    let parts: Buffer[] = []
    let bytes = 0
    let members = 0
    const startMember = async () => {
      members++
      const input = Buffer.concat(parts, bytes)
      parts = []
      bytes = 0
      const member = gzipAsync(input, { level: options.level })
      // Awaited in order by writeOldest; an early failure must not go unhandled meanwhile.
      member.catch(() => {})
      compressing.push(member)
      if (compressing.length >= parallel) await writeOldest()
    }
    for await (const chunk of chunks) {
      parts.push(chunk)
      bytes += chunk.length
      if (bytes >= options.memberBytes) await startMember()
    }
    // An empty input is still a gzip file: one empty member.
    if (bytes > 0 || members === 0) await startMember()
    while (compressing.length > 0) await writeOldest()
  } finally {
    await handle.close()
  }
}
