/**
 * A compact set of SHA-256 hashes, holding the first 64 bits of each: 8
 * bytes per hash in a sorted BigUint64Array, where a Set of hex strings
 * would take ten times that. It answers "might content/<sha> exist?" for
 * every content key of a store (a million keys: 8 MB). Two different hashes
 * share a 64-bit prefix with odds of about n/2^64 (5e-14 for a million),
 * and a false "present" only costs one HEAD, so prefixes are enough.
 */
export class PrefixSet {
  private sorted: BigUint64Array
  /** Added since the last compaction; folded into `sorted` when large. */
  private added = new Set<bigint>()
  /** Whether a prefix was added since the set was made. */
  private grown = false

  private constructor(sorted: BigUint64Array) {
    this.sorted = sorted
  }

  static empty(): PrefixSet {
    return new PrefixSet(new BigUint64Array(0))
  }

  /** A set of the given prefixes (any order, duplicates allowed). */
  static of(prefixes: Iterable<bigint>): PrefixSet {
    const array = BigUint64Array.from(prefixes)
    return new PrefixSet(dedupSorted(array.sort()))
  }

  has(sha256: string): boolean {
    return this.hasPrefix(prefixOf(sha256))
  }

  hasPrefix(prefix: bigint): boolean {
    if (this.added.has(prefix)) return true
    let lo = 0
    let hi = this.sorted.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const v = this.sorted[mid]!
      if (v === prefix) return true
      if (v < prefix) lo = mid + 1
      else hi = mid - 1
    }
    return false
  }

  add(sha256: string): void {
    this.addPrefix(prefixOf(sha256))
  }

  addPrefix(prefix: bigint): void {
    if (this.hasPrefix(prefix)) return
    this.grown = true
    this.added.add(prefix)
    // A Set entry costs about ten times a slot of the array: fold them in now and then.
    if (this.added.size > 4096 && this.added.size * 8 > this.sorted.length) this.compact()
  }

  /** Adds every prefix of `other`. */
  addAll(other: PrefixSet): void {
    other.compact()
    this.compact()
    const merged = new BigUint64Array(this.sorted.length + other.sorted.length)
    merged.set(this.sorted)
    merged.set(other.sorted, this.sorted.length)
    const before = this.sorted.length
    this.sorted = dedupSorted(merged.sort())
    if (this.sorted.length !== before) this.grown = true
  }

  /** Whether any prefix was added since the set was made (of() or empty()). */
  get hasGrown(): boolean {
    return this.grown
  }

  get size(): number {
    this.compact()
    return this.sorted.length
  }

  /** Every prefix, ascending. */
  prefixes(): BigUint64Array {
    this.compact()
    return this.sorted
  }

  private compact(): void {
    if (this.added.size === 0) return
    const merged = new BigUint64Array(this.sorted.length + this.added.size)
    merged.set(this.sorted)
    let i = this.sorted.length
    for (const p of this.added) merged[i++] = p
    this.sorted = dedupSorted(merged.sort())
    this.added = new Set()
  }
}

/** The first 64 bits of a hex SHA-256, as the set keeps them. */
export function prefixOf(sha256: string): bigint {
  return BigInt(`0x${sha256.slice(0, 16)}`)
}

/** 16 hex digits of a prefix, as the state cache writes them. */
export function prefixHex(prefix: bigint): string {
  return prefix.toString(16).padStart(16, '0')
}

function dedupSorted(array: BigUint64Array): BigUint64Array {
  let n = 0
  for (let i = 0; i < array.length; i++) {
    if (n === 0 || array[i] !== array[n - 1]) array[n++] = array[i]!
  }
  return n === array.length ? array : array.slice(0, n)
}
