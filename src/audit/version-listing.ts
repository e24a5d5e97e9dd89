import type { Store, VersionInfo } from '../store/store.js'
import { mapUnordered } from '../util/concurrency.js'

/** Hex digits of a content hash used to place it in the key space: 52 bits, exact in a double. */
const PLACE_DIGITS = 13
const CONTENT_KEY = /^content\/([0-9a-f]{64})$/

/** What the listings showed, and what they cost. */
export interface ListingStats {
  /** Pages of prefix sweeps. */
  sweepPages: number
  /** Keys listed one by one (after a sweep turned out larger than that). */
  keyListings: number
}

/**
 * Every version of each key in `keys` (sorted), newest first, as the store
 * lists them; a key with no version is absent from the result. Versions of
 * other keys are not kept, so memory is bounded by what is referenced.
 *
 * Cost: S3 has no call that lists the versions of many chosen keys, so
 * there are two ways. A sweep of the whole `prefix` costs one
 * ListObjectVersions per 1000 versions under it, whatever is referenced; a
 * listing per key costs one ListObjectVersions per key. For content keys
 * (SHA-256 hex, spread evenly over the key space) the sweep starts, and
 * after each page the share of the key space it has covered estimates the
 * pages still to come; when that exceeds the referenced keys not yet
 * reached, the rest are listed one by one (at most `concurrency` at once).
 * A store holding far more content than the verified backups reference
 * (one host of many) is thus not swept whole. Other prefixes (a host's
 * snapshots: few per run) are always swept.
 */
export async function listReferencedVersions(store: Store, prefix: string, keys: string[], stats: ListingStats, concurrency: number): Promise<Map<string, VersionInfo[]>> {
  const wanted = new Set(keys)
  const found = new Map<string, VersionInfo[]>()
  if (keys.length === 0) return found
  const uniform = keys.every((k) => CONTENT_KEY.test(k))
  let lastKey = ''
  let pages = 0
  let finished = true
  for await (const page of store.listVersions(prefix)) {
    pages++
    stats.sweepPages++
    for (const v of page) {
      if (wanted.has(v.key)) {
        let list = found.get(v.key)
        if (list === undefined) found.set(v.key, list = [])
        list.push(v)
      }
      lastKey = v.key
    }
    if (uniform && lastKey !== '') {
      // Listing the rest one by one costs a request per key not yet reached, plus one for the
      // last key listed when it is referenced (its versions may go on on the next page).
      const perKey = countAfter(keys, lastKey) + (wanted.has(lastKey) ? 1 : 0)
      if (perKey === 0) break
      const covered = placeOf(lastKey)
      const remainingPages = covered > 0 ? pages * (1 - covered) / covered : Infinity
      if (remainingPages > perKey) {
        finished = false
        break
      }
    }
  }
  if (!finished) {
    // The last key seen may have more versions on pages not read: list it again with the rest.
    const rest = keys.filter((k) => k >= lastKey)
    for (const k of rest) found.delete(k)
    for await (const [key, versions] of mapUnordered(rest, concurrency, async (key) => [key, await allVersions(store, key)] as const)) {
      stats.keyListings++
      if (versions.length > 0) found.set(key, versions)
    }
  }
  return found
}

/** Every version of exactly `key`. Cost: one ListObjectVersions (a key has fewer than 1000 versions). */
async function allVersions(store: Store, key: string): Promise<VersionInfo[]> {
  const out: VersionInfo[] = []
  for await (const page of store.listVersions(key)) for (const v of page) if (v.key === key) out.push(v)
  return out
}

/** How many of the sorted `keys` come after `key`. */
function countAfter(keys: string[], key: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (keys[mid]! <= key) lo = mid + 1
    else hi = mid
  }
  return keys.length - lo
}

/** Where a content key lies in the key space, from 0 to 1 (0 for anything else). */
function placeOf(key: string): number {
  const m = CONTENT_KEY.exec(key)
  return m === null ? 0 : parseInt(m[1]!.slice(0, PLACE_DIGITS), 16) / 16 ** PLACE_DIGITS
}
