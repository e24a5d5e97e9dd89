import type { StageContext } from '../../cli/stage.js'
import type { EntryRecord, Rec } from '../../protocol/records.js'
import { findGetfacl, readAcls, type AclBatch } from './acl-reader.js'

export interface AclOptions {
  /** Entries per batch (and getfacl run) at most. */
  batchEntries: number
  /**
   * Entries of the first batch (default batchEntries); each batch after
   * it is twice the one before, up to batchEntries.
   */
  firstBatchEntries?: number
  /**
   * Longest a record waits for its batch to fill, in milliseconds, when
   * the input is slow: a picker that prints a path a minute still gets its
   * records out within this delay.
   */
  batchWaitMs: number
  /** Environment for xargs and getfacl (PATH). */
  env: NodeJS.ProcessEnv
  /**
   * Reads each batch's ACLs and extended attributes first (XattrStep);
   * getfacl reads only a batch it could not. Closed when the records end.
   */
  step?: BatchStep
}

/** What a BatchStep did with a batch. */
export interface BatchStepResult {
  /** Problem records to pass on after the batch's records. */
  problems: Rec[]
  /** Whether the batch's ACLs were read (else getfacl is asked). */
  aclsRead: boolean
}

/** Per-batch work on the records of a batch, completing them in place. */
export interface BatchStep {
  /** Called once when the records start to flow, before the first batch is gathered; close() follows. */
  start(): void
  run(batch: Rec[]): Promise<BatchStepResult>
  close(): void
}

/**
 * 2000 entries: three batches are held at once (one being read, one
 * gathered, one being passed on), and at 5000 they held 15,000 records,
 * about 9 MB of heap; 2000 took no more time on 20,000 or 100,000 files,
 * and 1000 did (bench/daily.ts, measured side by side). The first batches
 * are smaller (250, 500, 1000): every stage after this one waits for the
 * first batch's ACLs before it sees a record.
 */
export const DEFAULT_ACL_OPTIONS = { batchEntries: 2000, firstBatchEntries: 250, batchWaitMs: 200 } as const

/** A function that reads the ACLs of NUL-separated paths (readAcls, or a test's). */
export type AclLookup = (paths: Buffer, env: NodeJS.ProcessEnv, signal?: AbortSignal) => Promise<AclBatch>

/**
 * Adds `acl` and `defaultAcl` to the entry records of `chunks` (and, with
 * a `step`, what it adds), and yields every record, in order, one by one.
 *
 * Records are grouped into batches (see AclOptions), and while one batch
 * is read the next is being gathered, so the two run in parallel. The
 * `step` reads a batch with no process of its own; getfacl, where it
 * must, costs one process per batch, never one per file, and is not
 * asked about symlinks (Linux has no ACLs on links, and getfacl would
 * follow them).
 *
 * Where getfacl is needed and missing, one warning says ACLs are not
 * being recorded, and the records pass through without them.
 */
export async function* attachAcls(
  chunks: AsyncIterable<Rec[]>,
  ctx: StageContext,
  options: AclOptions,
  lookup: AclLookup = readAcls,
): AsyncGenerator<Rec> {
  let unavailable: string | undefined
  let looked = false

  const withAcls = async (batch: Rec[]): Promise<Rec[]> => {
    if (!looked) {
      looked = true
      if (findGetfacl(options.env) === null) {
        unavailable = 'getfacl was not found on PATH'
        return [notRecorded(ctx, unavailable), ...batch]
      }
    }
    if (unavailable !== undefined || ctx.signal.aborted) return batch
    const paths = nulSeparatedPaths(batch, isAclCandidate)
    if (paths === null) return batch
    const found = await lookup(paths, options.env, ctx.signal)
    if (ctx.signal.aborted) return batch
    if (found.unavailable !== undefined) {
      unavailable = found.unavailable
      return [notRecorded(ctx, unavailable), ...batch]
    }
    if (found.acls.size > 0) {
      for (const rec of batch) {
        if (!isAclCandidate(rec)) continue
        const text = found.acls.get(typeof rec.path === 'string' ? rec.path : '\0' + rec.pathB64!)
        if (text === undefined) continue
        ctx.count('acls')
        if (text.acl !== undefined) rec.acl = text.acl
        if (text.defaultAcl !== undefined) rec.defaultAcl = text.defaultAcl
      }
    }
    for (const problem of found.problems) batch.push(ctx.problem('warning', `ACL not read: ${problem}`))
    return batch
  }

  const step = options.step
  const withMetadata = step === undefined ? withAcls : async (batch: Rec[]): Promise<Rec[]> => {
    const { problems, aclsRead } = await step.run(batch)
    const out = aclsRead ? batch : await withAcls(batch)
    for (const problem of problems) out.push(problem)
    return out
  }

  // Here, not when the step is made: a generator never iterated would not reach the finally that closes it.
  step?.start()
  const batches = batchRecords(chunks, options.batchEntries, options.batchWaitMs, options.firstBatchEntries)[Symbol.asyncIterator]()
  let next = batches.next()
  try {
    for (;;) {
      const result = await next
      if (result.done) break
      const looking = withMetadata(result.value)
      looking.catch(() => {})
      // Gather the next batch while this one is read.
      next = batches.next()
      next.catch(() => {})
      for (const rec of await looking) yield rec
    }
  } finally {
    void batches.return(undefined)
    step?.close()
  }
}

function notRecorded(ctx: StageContext, why: string): Rec {
  return ctx.problem('warning', `POSIX ACLs are not being recorded: ${why} (install the acl package)`)
}

function isAclCandidate(rec: Rec): rec is EntryRecord {
  return rec.type === 'file' || rec.type === 'dir' || rec.type === 'special'
}

/** The paths of the batch's records that `include` takes, NUL-terminated, in order; null when none. */
export function nulSeparatedPaths(batch: readonly Rec[], include: (rec: Rec) => rec is EntryRecord): Buffer | null {
  // UTF-8 paths are joined as one string and encoded once; the rare others are spliced in as bytes.
  const parts: Buffer[] = []
  let text = ''
  for (const rec of batch) {
    if (!include(rec)) continue
    if (typeof rec.path === 'string') {
      text += rec.path + '\0'
    } else {
      parts.push(Buffer.from(text), Buffer.from(rec.pathB64!, 'base64'), NUL)
      text = ''
    }
  }
  if (text !== '') parts.push(Buffer.from(text))
  return parts.length === 0 ? null : Buffer.concat(parts)
}

const NUL = Buffer.from([0])

/**
 * Regroups record chunks into batches of about `maxSize` records (the
 * first of about `firstSize`, each next one twice as many, up to
 * `maxSize`). A
 * batch is released when full, when the input ends, or when its first
 * record has waited `waitMs` for the input to fill it.
 */
export async function* batchRecords(chunks: AsyncIterable<Rec[]>, maxSize: number, waitMs: number, firstSize = maxSize): AsyncGenerator<Rec[]> {
  const source = chunks[Symbol.asyncIterator]()
  let size = Math.min(firstSize, maxSize)
  let batch: Rec[] = []
  let startedAt = 0
  try {
    for (;;) {
      const next = source.next()
      let result: IteratorResult<Rec[]>
      if (batch.length === 0) {
        result = await next
      } else {
        const raced = await withDeadline(next, startedAt + waitMs - Date.now())
        if (raced === TIMED_OUT) {
          yield batch
          batch = []
          result = await next
        } else {
          result = raced
        }
      }
      if (result.done) break
      if (result.value.length === 0) continue
      if (batch.length === 0) startedAt = Date.now()
      for (const rec of result.value) batch.push(rec)
      if (batch.length >= size) {
        yield batch
        batch = []
        size = Math.min(2 * size, maxSize)
      }
    }
    if (batch.length > 0) yield batch
  } finally {
    void source.return?.(undefined)
  }
}

const TIMED_OUT = Symbol('timed out')

/** `promise`'s value, or TIMED_OUT if it takes longer than `ms`. */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  if (ms <= 0) return Promise.race([promise, Promise.resolve(TIMED_OUT)])
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => { timer = setTimeout(() => resolve(TIMED_OUT), ms) })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}
