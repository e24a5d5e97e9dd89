import { isUtf8 } from 'node:buffer'

/**
 * A filesystem path as the tools handle it: a string when the name is valid
 * UTF-8 (the common, fast case), a Buffer of the raw bytes otherwise. Node's
 * fs functions accept both, so either form reaches the right file.
 */
export type FsPath = string | Buffer

/** Thrown when a record's path fields are missing or malformed. */
export class PathFieldError extends Error {}

/**
 * The JSON form of a path under `field`: `{[field]: string}` when the bytes
 * are valid UTF-8, else `{[field + 'B64']: base64}`. Newlines, backslashes
 * and control characters need nothing special: JSON string escapes carry
 * them exactly.
 */
export function encodePathField(field: string, p: FsPath): Record<string, string> {
  if (typeof p === 'string') return { [field]: p }
  if (isUtf8(p)) return { [field]: p.toString('utf8') }
  return { [field + 'B64']: p.toString('base64') }
}

/** `encodePathField('path', p)`. */
export function encodePath(p: FsPath): { path: string } | { pathB64: string } {
  return encodePathField('path', p) as { path: string } | { pathB64: string }
}

/**
 * The path carried in `rec[field]` or `rec[field + 'B64']`, exactly as the
 * producer saw it. Throws PathFieldError when neither is present, both are,
 * or the base64 is not canonical.
 */
export function decodePathField(rec: Record<string, unknown>, field: string): FsPath {
  const text = rec[field]
  const b64 = rec[field + 'B64']
  if (text !== undefined && b64 !== undefined) {
    throw new PathFieldError(`record has both "${field}" and "${field}B64"`)
  }
  if (typeof text === 'string') {
    if (text.length === 0) throw new PathFieldError(`"${field}" is empty`)
    if (text.includes('\0')) throw new PathFieldError(`"${field}" contains a NUL character`)
    return text
  }
  if (typeof b64 === 'string') {
    const bytes = Buffer.from(b64, 'base64')
    if (bytes.length === 0 || bytes.toString('base64') !== b64) {
      throw new PathFieldError(`"${field}B64" is not canonical base64`)
    }
    if (bytes.includes(0)) throw new PathFieldError(`"${field}B64" contains a NUL byte`)
    return bytes
  }
  throw new PathFieldError(`record has no string "${field}" or "${field}B64"`)
}

/** `decodePathField(rec, 'path')`. */
export function decodePath(rec: Record<string, unknown>): FsPath {
  return decodePathField(rec, 'path')
}

/** The raw bytes of a path, for byte-order sorting and comparison. */
export function pathBytes(p: FsPath): Buffer {
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : p
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/

/**
 * The path's bytes as a latin1 string, one character per byte: such
 * strings compare (`<`, sort) in the byte order of the paths, and a
 * pattern made of bytes the same way matches them byte for byte. An ASCII
 * path, the usual one, is its own text, without a Buffer in between.
 */
export function pathAsLatin1(p: FsPath): string {
  return typeof p === 'string' && ASCII.test(p) ? p : pathBytes(p).toString('latin1')
}

/**
 * A printable rendering of a path for messages: valid UTF-8 is shown as is
 * with control characters escaped; other bytes as \xNN. Never used to
 * reach a file.
 */
export function displayPath(p: FsPath): string {
  const text = typeof p === 'string' ? p : isUtf8(p) ? p.toString('utf8') : null
  if (text !== null) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\x00-\x1f\x7f\\]/g, (c) =>
      c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\t' ? '\\t' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
  }
  let out = ''
  for (const byte of p as Buffer) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c
      ? String.fromCharCode(byte)
      : '\\x' + byte.toString(16).padStart(2, '0')
  }
  return out
}

/**
 * The bytes of the path that displayPath shows as `text`: `\\`, `\n`, `\t`
 * and `\xNN` become the bytes they stand for, everything else is taken as
 * UTF-8. Null when a backslash begins none of these. For a person who
 * gives a path as a listing showed it: the only way to name, on a command
 * line, a path whose bytes are not UTF-8 (Node decodes arguments as UTF-8).
 */
export function parseDisplayPath(text: string): Buffer | null {
  const parts: Buffer[] = []
  let from = 0
  for (let i = text.indexOf('\\'); i >= 0; i = text.indexOf('\\', from)) {
    parts.push(Buffer.from(text.slice(from, i), 'utf8'))
    const next = text[i + 1]
    if (next === '\\' || next === 'n' || next === 't') {
      parts.push(Buffer.from(next === 'n' ? '\n' : next === 't' ? '\t' : '\\'))
      from = i + 2
    } else if (next === 'x' && /^[0-9a-f]{2}$/i.test(text.slice(i + 2, i + 4))) {
      parts.push(Buffer.from([parseInt(text.slice(i + 2, i + 4), 16)]))
      from = i + 4
    } else {
      return null
    }
  }
  parts.push(Buffer.from(text.slice(from), 'utf8'))
  return Buffer.concat(parts)
}
