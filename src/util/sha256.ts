import { hash } from 'node:crypto'

/**
 * The SHA-256 of data held whole, in one call (`crypto.hash`, Node 20.12
 * and later): no Hash object per file. On this project's machines a
 * createHash–update–digest of a file name took ~2 µs against ~0.7, and a
 * 4 KiB file ~5 µs against ~4: a restore or a first backup makes such a
 * hash for every file. Data that arrives in chunks still needs createHash.
 */
export function sha256Of(data: Buffer | string, encoding: 'hex' | 'base64' = 'hex'): string {
  return hash('sha256', data, encoding)
}
