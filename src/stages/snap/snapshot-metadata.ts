import { MAX_METADATA_BYTES } from '../../store/validate.js'

/** What a snapshot object's metadata says (see sysbackup-snap(1)). */
export interface SnapshotFacts {
  /** The description bytes, exactly as printed. */
  description: Buffer
  restoreThrough?: Buffer
  /** Known only when the whole snapshot was read before the object was written. */
  sha256?: string
  size?: number
}

/**
 * Percent-encodes bytes into printable ASCII, as S3 metadata must be: `%`,
 * control characters, bytes above 0x7e (so any UTF-8 or other encoding) and
 * blanks at either end (HTTP would trim them) become `%XX`; everything else
 * is kept, so plain text stays readable. Decoding (`%XX` → byte) gives back
 * the exact bytes.
 */
export function percentEncode(bytes: Buffer): string {
  let out = ''
  let first = 0
  while (first < bytes.length && bytes[first] === 0x20) first++
  let last = bytes.length
  while (last > first && bytes[last - 1] === 0x20) last--
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    const keep = b >= 0x20 && b <= 0x7e && b !== 0x25 && !(b === 0x20 && (i < first || i >= last))
    out += keep ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

/**
 * The user metadata of a snapshot object: `description`, `restore-through`
 * (percent-encoded), `sha256` and `size` when known. Keys plus values fit
 * S3's 2 KiB: the restore command is given room first (it is short and
 * matters most), the description what is left; a value cut short is named
 * in `truncated` (e.g. `description`), and the full text is in the
 * manifest. A cut never splits a `%XX` escape, and never leaves a blank at
 * the end.
 */
export function snapshotMetadata(facts: SnapshotFacts): Record<string, string> {
  const metadata: Record<string, string> = {}
  if (facts.sha256 !== undefined) metadata.sha256 = facts.sha256
  if (facts.size !== undefined) metadata.size = String(facts.size)
  const wanted: [string, string][] = [['description', percentEncode(facts.description)]]
  if (facts.restoreThrough !== undefined) wanted.unshift(['restore-through', percentEncode(facts.restoreThrough)])
  // Room for the `truncated` entry is kept back whenever a cut might be needed.
  const fixed = sizeOf(metadata)
  const full = wanted.reduce((n, [k, v]) => n + k.length + v.length, 0)
  const truncatedEntry = 'truncated'.length + 'restore-through,description'.length
  let room = MAX_METADATA_BYTES - fixed - (fixed + full > MAX_METADATA_BYTES ? truncatedEntry : 0)
  const cut: string[] = []
  for (const [key, value] of wanted) {
    const space = room - key.length
    if (value.length <= space) {
      metadata[key] = value
      room -= key.length + value.length
      continue
    }
    cut.push(key)
    if (space > 0) {
      metadata[key] = cutEncoded(value, space)
      room -= key.length + metadata[key]!.length
    }
  }
  if (cut.length > 0) metadata.truncated = cut.join(',')
  return metadata
}

function sizeOf(metadata: Record<string, string>): number {
  let n = 0
  for (const [k, v] of Object.entries(metadata)) n += k.length + v.length
  return n
}

/** The first `limit` characters of percent-encoded text, not ending inside an escape nor on a blank. */
function cutEncoded(text: string, limit: number): string {
  let end = limit
  if (text[end - 1] === '%') end -= 1
  else if (text[end - 2] === '%') end -= 2
  while (end > 0 && text[end - 1] === ' ') end--
  return text.slice(0, end)
}
