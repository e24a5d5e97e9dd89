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
