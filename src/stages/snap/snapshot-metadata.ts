import { MAX_METADATA_BYTES } from '../../store/validate.js'
import { cutAtCharacter } from './description.js'

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
 * manifest. A cut never splits an escape or a UTF-8 character.
 */
export function snapshotMetadata(facts: SnapshotFacts): Record<string, string> {
  const metadata: Record<string, string> = {}
  if (facts.sha256 !== undefined) metadata.sha256 = facts.sha256
  if (facts.size !== undefined) metadata.size = String(facts.size)
  const wanted: [string, Buffer][] = [['description', facts.description]]
  if (facts.restoreThrough !== undefined) wanted.unshift(['restore-through', facts.restoreThrough])
  const fixed = sizeOf(metadata)
  const full = wanted.reduce((n, [k, v]) => n + k.length + percentEncode(v).length, 0)
  // Room for the `truncated` entry is kept back whenever a cut is needed.
  const reserve = fixed + full > MAX_METADATA_BYTES ? 'truncated'.length + wanted.map(([k]) => k).join(',').length : 0
  let room = MAX_METADATA_BYTES - fixed - reserve
  const cut: string[] = []
  for (const [key, bytes] of wanted) {
    const { text, whole } = encodeWithin(bytes, room - key.length)
    if (!whole) cut.push(key)
    if (text.length > 0 || whole) {
      metadata[key] = text
      room -= key.length + text.length
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

/**
 * The percent-encoding of the longest start of `bytes` whose encoding has
 * at most `limit` characters, cut between characters (cutAtCharacter), so
 * it never ends inside an escape or a UTF-8 sequence.
 */
function encodeWithin(bytes: Buffer, limit: number): { text: string, whole: boolean } {
  const text = percentEncode(bytes)
  if (text.length <= limit) return { text, whole: true }
  if (limit <= 0) return { text: '', whole: false }
  // First guess from the cost of each byte, then back off (blanks at the new end cost more).
  let n = 0
  for (let used = 0; n < bytes.length; n++) {
    const b = bytes[n]!
    const cost = b > 0x20 && b <= 0x7e && b !== 0x25 ? 1 : 3
    if (used + cost > limit) break
    used += cost
  }
  for (;;) {
    const prefix = cutAtCharacter(bytes, n)
    const encoded = percentEncode(prefix)
    if (encoded.length <= limit) return { text: encoded, whole: false }
    n = prefix.length - 1
  }
}
