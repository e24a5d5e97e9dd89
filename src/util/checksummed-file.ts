import { createHash } from 'node:crypto'
import { writeFileAtomic } from './atomic-file.js'
import { sha256Of } from './sha256.js'

/**
 * The framing of the state directory's cache files (the hash stage's files
 * cache, the upload stage's content versions cache): a head of one or more
 * lines, then the entry lines, then
 *
 *     end <entry lines> <sha256 of every byte above this line>
 *
 * so a truncated or altered file is detected and ignored as a whole. Files
 * are ASCII, read and written as latin1 (one character per byte).
 */
const CLOSING_LINE = /^end (\d+) ([0-9a-f]{64})\n$/

/** Text gathered before it is hashed and written: bounds the memory a save takes. */
const CHUNK_CHARS = 256 * 1024

/** Who may read a cache file and its directory: hashes and version ids of private files are private too. */
const MODES = { dirMode: 0o700, fileMode: 0o600 }

/**
 * Writes `head` then `lines` (each ending in `\n`) and the closing line
 * to `file`, atomically and durably (writeFileAtomic), in chunks: the
 * whole file is never one string or buffer in memory (at 100,000 entries
 * that was three copies of 11 MB each, at the end of the run when memory
 * peaks). Returns the number of entry lines. Throws the filesystem error
 * when it cannot write, leaving no temporary file.
 *
 * `previous` is what `file` held when it was loaded: when the new content
 * is the same, byte for byte (an unchanged run's cache), nothing is
 * written. The file already holds it, durably, and a daily run then costs
 * the disk no rewrite and no fsync of its caches.
 */
export async function writeChecksummedFile(file: string, head: string, lines: Iterable<string>, previous?: Buffer): Promise<number> {
  let count = 0
  function* chunks(): Generator<Buffer> {
    const hash = createHash('sha256')
    let text = head
    const flush = (): Buffer => {
      const chunk = Buffer.from(text, 'latin1')
      hash.update(chunk)
      text = ''
      return chunk
    }
    for (const line of lines) {
      text += line
      count++
      if (text.length >= CHUNK_CHARS) yield flush()
    }
    yield flush()
    yield Buffer.from(`end ${count} ${hash.digest('hex')}\n`, 'latin1')
  }
  const changed = previous === undefined ? chunks() : changedContent(chunks(), previous)
  if (changed !== null) await writeFileAtomic(file, changed, MODES)
  return count
}

/**
 * The chunks of `content`, when they differ from `previous`; null when
 * they are the same bytes. Chunks are compared as they come, so nothing
 * is held: where one first differs, what came before it is taken from
 * `previous`.
 */
function changedContent(content: Iterable<Buffer>, previous: Buffer): Iterable<Buffer> | null {
  const it = content[Symbol.iterator]()
  let same = 0
  for (let next = it.next(); !next.done; next = it.next()) {
    const chunk = next.value
    if (same + chunk.length <= previous.length && previous.compare(chunk, 0, chunk.length, same, same + chunk.length) === 0) {
      same += chunk.length
      continue
    }
    return (function* () {
      yield previous.subarray(0, same)
      yield chunk
      for (let rest = it.next(); !rest.done; rest = it.next()) yield rest.value
    })()
  }
  return same === previous.length ? null : [previous.subarray(0, same)]
}

/**
 * The entry lines of a cache file's contents (`data`, and `text` its
 * latin1 decoding) after its first `headLines` lines, checked against the
 * closing line; or why the file is unusable: "is truncated", "is corrupted
 * (checksum mismatch)", "is corrupted (wrong entry count)". The head lines
 * are returned apart for the caller to check (fewer when the file has
 * fewer lines), and `entriesAt` is the offset of the first entry line.
 */
export function checkedLines(data: Buffer, text: string, headLines: number): { head: string[], entries: string[], entriesAt: number } | string {
  if (!text.endsWith('\n')) return 'is truncated'
  const lastLineAt = text.lastIndexOf('\n', text.length - 2) + 1
  const closing = CLOSING_LINE.exec(text.slice(lastLineAt))
  if (!closing) return 'is truncated'
  if (sha256Of(data.subarray(0, lastLineAt)) !== closing[2]) return 'is corrupted (checksum mismatch)'
  const all = lastLineAt > 0 ? text.slice(0, lastLineAt - 1).split('\n') : []
  const entries = all.slice(headLines)
  if (entries.length !== Number(closing[1])) return 'is corrupted (wrong entry count)'
  const head = all.slice(0, headLines)
  return { head, entries, entriesAt: head.reduce((at, line) => at + line.length + 1, 0) }
}
