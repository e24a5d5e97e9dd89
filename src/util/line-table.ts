/**
 * The lines of a cache file, kept as the file's bytes and found by a key
 * that is a part of each line. For caches of 100,000 entries and more: a
 * Map of strings sliced from the file costs about 130 bytes of heap per
 * entry on top of the line itself (two sliced strings and a hash-table
 * entry), and V8 lets the heap grow to 1.5 times what is live; here an
 * entry costs 12 bytes besides its line (a start offset, two hash slots
 * and a byte of state).
 *
 * The text is ASCII (a cache file's entry lines are checked to be), so
 * bytes and characters are one to one. Read-only: what a run learns goes
 * in a Map of its own beside the table.
 */
export class LineTable {
  /** Where each line starts in `data`. */
  private readonly starts: Int32Array
  /** Where each line ends in `data` (at its `\n`). */
  private readonly ends: Int32Array
  /** Open-addressing hash table of line indexes + 1 (0: empty); its length is a power of two. */
  private readonly slots: Int32Array
  /** Lines whose key a later line repeats: not found, and not iterated (the last one wins, as in a Map). */
  private readonly superseded: Uint8Array
  private distinct = 0

  /**
   * Line `i` of the table is `data` from `lineStarts[i]` to `lineEnds[i]`
   * (without its `\n`); the lines need not be adjacent. `keyOf` says where
   * a line's key is: `[from, to)` in characters from the line's start,
   * given the line's length.
   */
  constructor(
    private readonly data: Buffer,
    lineStarts: readonly number[],
    lineEnds: readonly number[],
    private readonly keyOf: (lineLength: number) => readonly [number, number],
  ) {
    this.starts = Int32Array.from(lineStarts)
    this.ends = Int32Array.from(lineEnds)
    this.superseded = new Uint8Array(lineStarts.length)
    let capacity = 16
    while (capacity < lineStarts.length * 2) capacity *= 2
    this.slots = new Int32Array(capacity)
    for (let i = 0; i < lineStarts.length; i++) this.insert(i)
  }

  /** Distinct keys. */
  get size(): number {
    return this.distinct
  }

  /** Lines, superseded ones included: indexes run from 0 to this. */
  get lineCount(): number {
    return this.superseded.length
  }

  /** The index of the line whose key is `key`, or -1. */
  find(key: string): number {
    const mask = this.slots.length - 1
    for (let slot = hashString(key) & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot]!
      if (held === 0) return -1
      if (this.keyEquals(held - 1, key)) return held - 1
    }
  }

  /** The indexes of the lines, in file order (superseded ones left out). */
  * indexes(): Generator<number> {
    for (let i = 0; i < this.superseded.length; i++) if (this.superseded[i] === 0) yield i
  }

  /** Line `i` without its `\n`. */
  line(i: number): string {
    return this.data.toString('latin1', this.starts[i]!, this.ends[i]!)
  }

  /** The key of line `i`. */
  key(i: number): string {
    const [from, to] = this.keyRange(i)
    return this.data.toString('latin1', from, to)
  }

  /** Characters `[from, to)` of line `i`; a negative `from`, and a `to` of 0 or less, count from the end of the line (before its `\n`). */
  text(i: number, from: number, to: number): string {
    const start = this.starts[i]!
    const end = this.ends[i]!
    return this.data.toString('latin1', from < 0 ? end + from : start + from, to <= 0 ? end + to : start + to)
  }

  private keyRange(i: number): [number, number] {
    const start = this.starts[i]!
    const [from, to] = this.keyOf(this.ends[i]! - start)
    return [start + from, start + to]
  }

  private keyEquals(i: number, key: string): boolean {
    const [from, to] = this.keyRange(i)
    if (to - from !== key.length) return false
    for (let k = 0; k < key.length; k++) if (this.data[from + k] !== key.charCodeAt(k)) return false
    return true
  }

  private insert(i: number): void {
    const [from, to] = this.keyRange(i)
    const mask = this.slots.length - 1
    for (let slot = hashBytes(this.data, from, to) & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot]!
      if (held === 0) {
        this.slots[slot] = i + 1
        this.distinct++
        return
      }
      const [heldFrom, heldTo] = this.keyRange(held - 1)
      if (this.data.compare(this.data, from, to, heldFrom, heldTo) === 0) {
        this.superseded[held - 1] = 1
        this.slots[slot] = i + 1
        return
      }
    }
  }
}

/** FNV-1a over character codes; equals hashBytes over the same ASCII text. */
function hashString(text: string): number {
  let h = 0x811c9dc5
  for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193)
  return h >>> 0
}

function hashBytes(data: Buffer, from: number, to: number): number {
  let h = 0x811c9dc5
  for (let k = from; k < to; k++) h = Math.imul(h ^ data[k]!, 0x01000193)
  return h >>> 0
}
