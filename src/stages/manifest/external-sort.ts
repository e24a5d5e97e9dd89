import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { splitLineBatches } from '../../protocol/line-splitter.js'
import { MAX_SPILL_LINE_BYTES, writeLines } from './line-spool.js'
import type { SpillDir } from './spill-dir.js'

/**
 * One manifest entry on its way through the sort: its sort key, where it
 * came from, and its record line (JSON, without the newline).
 */
export interface SortItem {
  /**
   * The path's bytes as a latin1 string, one character (U+0000 to U+00FF)
   * per byte: comparing these strings orders paths by their bytes, as
   * `memcmp` would (and not as UTF-16 code units would, which puts U+FFFD
   * after an emoji). Half the size of the bytes in hexadecimal, which this
   * was: the 20,000-file bench tree's entries then fit the default sort
   * memory, and its unchanged run skipped writing and reading back a run
   * (3.04 s against 3.40, 5 pairs).
   */
  key: string
  /** Which input it came from (0-based), and its line there: ties are broken by them. */
  input: number
  line: number
  /** The entry's type (`file`, `dir`…) and, for a file, its size: counted without parsing `json` again. */
  kind: string
  size: number
  json: string
}

/** Order of items: path bytes, then input, then line, so the result never depends on arrival order. */
export function compareItems(a: SortItem, b: SortItem): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1
  return a.input - b.input || a.line - b.line
}

/** Rough memory of an item: its strings plus the object around them. */
function itemBytes(item: SortItem): number {
  return item.key.length + item.json.length + 80
}

/** Sorted runs merged at once; more are merged in rounds, so open files stay few. */
export const MAX_FAN_IN = 64

/**
 * An external merge sort of manifest entries with bounded memory: items
 * are held until they take about `memoryBytes`, then sorted and written to
 * a spill file as one sorted run; sorted() merges the runs (and what is
 * still in memory) k-way. Without a spill it is a plain in-memory sort,
 * with the same result.
 *
 * Memory peaks at about twice `memoryBytes` (the items being gathered and
 * the run being written), plus 64 KiB per run during the merge, and the
 * items parsed from it.
 */
export class ExternalSorter {
  /** Sorted runs written to disk so far. */
  runs = 0
  private items: SortItem[] = []
  private bytes = 0
  private readonly files: string[] = []
  private spilling: Promise<void> = Promise.resolve()

  constructor(private readonly dir: SpillDir, private readonly memoryBytes: number) {}

  /**
   * Adds an item. Returns undefined when that is all (the common case, so
   * a caller need not wait a turn per item), or a promise that resolves
   * once a run has been written when memory is full.
   */
  add(item: SortItem): Promise<void> | undefined {
    this.items.push(item)
    this.bytes += itemBytes(item)
    if (this.bytes < this.memoryBytes) return undefined
    return this.spill()
  }

  private async spill(): Promise<void> {
    // Another caller may be writing a run: wait for it, then see whether one is still due.
    await this.spilling
    if (this.bytes < this.memoryBytes) return
    const batch = this.items
    this.items = []
    this.bytes = 0
    this.spilling = this.writeRun(batch)
    await this.spilling
  }

  /** Every item added, in order (compareItems). Call once, after the last add. */
  async *sorted(): AsyncGenerator<SortItem> {
    await this.spilling
    this.items.sort(compareItems)
    if (this.files.length === 0) {
      // A plain loop: `yield*` over an array costs several promise turns per element.
      for (const item of this.items) yield item
      return
    }
    // Merge rounds until the runs left can be merged together with what is in memory.
    while (this.files.length + 1 > MAX_FAN_IN) {
      const group = this.files.splice(0, MAX_FAN_IN)
      const file = await this.dir.file('merged-run')
      await this.writeSorted(file, merge(group.map(readRun)))
      this.files.push(file)
    }
    const inMemory = this.items
    this.items = []
    yield* merge([...this.files.map(readRun), fromArray(inMemory)])
  }

  private async writeRun(batch: SortItem[]): Promise<void> {
    batch.sort(compareItems)
    const file = await this.dir.file('run')
    // In slices, as merges are: the run's lines all at once were another
    // copy of the batch, at the moment memory holds two batches already.
    await this.writeSorted(file, batch)
    this.files.push(file)
    this.runs++
  }

  private async writeSorted(file: string, items: Iterable<SortItem> | AsyncIterable<SortItem>): Promise<void> {
    const handle = await open(file, 'wx', 0o600)
    try {
      let batch: string[] = []
      for await (const item of items) {
        batch.push(runLine(item))
        if (batch.length >= 4096) {
          await writeLines(handle, batch)
          batch = []
        }
      }
      await writeLines(handle, batch)
    } finally {
      await handle.close()
    }
  }
}

/**
 * A run file line: key (in hexadecimal, as a path's bytes may be tabs or
 * newlines), input, line, kind, size and JSON, tab-separated (JSON text
 * holds no raw tab).
 */
function runLine(item: SortItem): string {
  return `${Buffer.from(item.key, 'latin1').toString('hex')}\t${item.input}\t${item.line}\t${item.kind}\t${item.size}\t${item.json}`
}

/**
 * Bytes of a run file read at once: its items come in batches of what one
 * read holds (256 KiB were no faster, and a merge holds one per run).
 */
const RUN_READ_BYTES = 64 * 1024

/**
 * The items of a run file, a batch per read: the merge then waits once per
 * read, not once per item through a line reader's generators (at 100,000
 * entries, runs spilled and read back were a tenth of an unchanged run).
 */
async function* readRun(file: string): AsyncGenerator<SortItem[]> {
  const stream = createReadStream(file, { highWaterMark: RUN_READ_BYTES })
  try {
    for await (const lines of splitLineBatches(stream, MAX_SPILL_LINE_BYTES)) yield lines.map((bytes) => parseRunLine(bytes.toString('utf8')))
  } finally {
    stream.destroy()
  }
}

function parseRunLine(text: string): SortItem {
  const tabs: number[] = []
  for (let at = -1; tabs.length < 5;) tabs.push(at = text.indexOf('\t', at + 1))
  const [a, b, c, d, e] = tabs as [number, number, number, number, number]
  return {
    key: Buffer.from(text.slice(0, a), 'hex').toString('latin1'), input: Number(text.slice(a + 1, b)), line: Number(text.slice(b + 1, c)),
    kind: text.slice(c + 1, d), size: Number(text.slice(d + 1, e)), json: text.slice(e + 1),
  }
}

async function* fromArray(items: SortItem[]): AsyncGenerator<SortItem[]> {
  if (items.length > 0) yield items
}

/** Where a source of the merge is: its current batch and the next item in it. */
interface Cursor {
  batch: SortItem[]
  at: number
  source: AsyncGenerator<SortItem[]>
}

/** K-way merge of sorted sources (each yielding batches), with a binary heap of their heads. */
async function* merge(sources: AsyncGenerator<SortItem[]>[]): AsyncGenerator<SortItem> {
  const heap: Cursor[] = []
  const head = (c: Cursor) => c.batch[c.at]!
  const less = (i: number, j: number) => compareItems(head(heap[i]!), head(heap[j]!)) < 0
  const swap = (i: number, j: number) => { const t = heap[i]!; heap[i] = heap[j]!; heap[j] = t }
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(i, parent)) break
      swap(i, parent)
      i = parent
    }
  }
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let least = i
      if (l < heap.length && less(l, least)) least = l
      if (r < heap.length && less(r, least)) least = r
      if (least === i) return
      swap(i, least)
      i = least
    }
  }
  try {
    for (const source of sources) {
      const first = await source.next()
      if (!first.done) {
        heap.push({ batch: first.value, at: 0, source })
        up(heap.length - 1)
      }
    }
    while (heap.length > 0) {
      const top = heap[0]!
      yield head(top)
      // The next item of the same batch needs no wait; only a batch's end does.
      if (++top.at < top.batch.length) {
        down(0)
        continue
      }
      const next = await top.source.next()
      if (!next.done) {
        top.batch = next.value
        top.at = 0
        down(0)
        continue
      }
      const last = heap.pop()!
      if (heap.length > 0) {
        heap[0] = last
        down(0)
      }
    }
  } finally {
    await Promise.all(sources.map((s) => s.return(undefined)))
  }
}
