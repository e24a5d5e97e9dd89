import type { StageContext } from '../../cli/stage.js'
import type { Rec } from '../../protocol/records.js'
import { unlessAborted } from '../../util/concurrency.js'
import { errnoText } from '../../util/errno-text.js'
import { attachAcls, DEFAULT_ACL_OPTIONS } from './attach-acls.js'
import { XattrStep } from './attach-xattrs.js'
import { OwnerNames } from './owner-names.js'
import type { Picker } from './pickers-dir.js'
import { PathRecorder } from './record-paths.js'
import { GroupProcess, KILL_GRACE_MS, type ProcessOutcome } from '../../util/process-group.js'
import { MAX_PATH_BYTES, PathSplitter, type Separator } from './split-paths.js'

/** Everything one run of sysbackup-pick needs, options and configuration resolved. */
export interface PickPlan {
  /** The pickers to run in order, or null to read paths from `input`. */
  pickers: Picker[] | null
  /** The pickers directory, for messages. */
  pickersDir?: string
  /** Paths, when there are no pickers (standard input with --stdin). */
  input?: AsyncIterable<Buffer | string>
  /** How paths in `input` are separated. */
  separator?: Separator
  /** What relative paths in `input` are relative to. */
  cwd?: string
  /** Per picker; 0 for no limit. */
  timeoutSeconds: number
  env: NodeJS.ProcessEnv
}

const ROOT = Buffer.from('/')

/** The trailer counters of sysbackup-pick, as sysbackup-pick(1) documents them. */
export const PICK_COUNTERS = ['pickers', 'paths', 'entries', 'files', 'dirs', 'symlinks', 'special', 'missing', 'dangling', 'acls', 'xattrs'] as const

/**
 * The records of one run: for every path the pickers print (or `input`
 * holds), its entry record with ancestors and symlink chain (PathRecorder),
 * with POSIX ACLs and extended attributes attached (attachAcls, XattrStep), problems in between, in the order
 * met. Records flow while a picker is still running.
 */
export function pick(ctx: StageContext, plan: PickPlan): AsyncGenerator<Rec> {
  // Present even when zero, so a reader of the trailer need not guess.
  for (const name of PICK_COUNTERS) ctx.count(name, 0)
  const names = new OwnerNames({ passwd: '/etc/passwd', group: '/etc/group', env: plan.env })
  return attachAcls(pickedRecords(ctx, plan, names), ctx, { ...DEFAULT_ACL_OPTIONS, env: plan.env, step: new XattrStep(ctx, names, plan.env) })
}

async function* pickedRecords(ctx: StageContext, plan: PickPlan, names: OwnerNames): AsyncGenerator<Rec[]> {
  const recorder = new PathRecorder(ctx, names)
  if (plan.pickers === null) {
    if (plan.input === undefined) throw new Error('pick: no pickers and no input')
    const input = untilAborted(plan.input, ctx.signal)
    const base = Buffer.from(plan.cwd ?? process.cwd())
    yield* recordPaths(ctx, recorder, input, new PathSplitter(plan.separator ?? 'auto'), base, 'standard input')
    return
  }
  if (plan.pickers.length === 0) {
    yield [ctx.problem('warning', `${plan.pickersDir ?? 'pickers.d'}: no pickers, so nothing is picked`)]
  }
  for (const picker of plan.pickers) {
    if (ctx.signal.aborted) return
    ctx.count('pickers')
    const run = new GroupProcess(picker.path, {
      timeoutSeconds: plan.timeoutSeconds,
      graceMs: KILL_GRACE_MS,
      env: plan.env,
      stderr: ctx.io.stderr,
      signal: ctx.signal,
    })
    yield* recordPaths(ctx, recorder, run.output(), new PathSplitter('auto'), ROOT, picker.path)
    const problem = outcomeProblem(await run.outcome(), plan.timeoutSeconds)
    if (problem !== null) yield [ctx.problem('error', problem.message, { path: picker.path, ...(problem.code ? { code: problem.code } : {}) })]
  }
}

/** Splits `chunks` into paths and records them, a chunk's records at a time. */
async function* recordPaths(
  ctx: StageContext,
  recorder: PathRecorder,
  chunks: AsyncIterable<Buffer>,
  splitter: PathSplitter,
  base: Buffer,
  source: string,
): AsyncGenerator<Rec[]> {
  const take = (paths: Buffer[]): Rec[] => {
    const overlong = splitter.overlong
    const out: Rec[] = []
    for (const path of paths) recorder.add(path, base, out)
    for (let n = reported; n < overlong; n++) {
      // An error, not a warning: find prints real paths this long (deep trees),
      // and a file that exists but is left out must make the run incomplete.
      out.push(ctx.problem('error', `${source}: skipped a path longer than ${MAX_PATH_BYTES} bytes: it cannot be opened by name, so it is not backed up`))
    }
    reported = overlong
    return out
  }
  let reported = 0
  for await (const chunk of chunks) {
    const out = take(splitter.push(chunk))
    if (out.length > 0) yield out
  }
  const out = take(splitter.end())
  if (out.length > 0) yield out
}

/** The error to report for how a picker ended, or null when it went well (or we stopped it). */
function outcomeProblem(outcome: ProcessOutcome, timeoutSeconds: number): { message: string, code?: string } | null {
  if (outcome.spawnError) {
    const code = outcome.spawnError.code ?? 'EIO'
    return { message: `cannot run picker: ${errnoText(code)}`, code }
  }
  if (outcome.aborted) return null
  if (outcome.timedOut) {
    return { message: `picker did not finish within ${timeoutSeconds} seconds and was killed (paths it printed before are kept)`, code: 'ETIMEDOUT' }
  }
  if (outcome.signal !== null) return { message: `picker was killed by ${outcome.signal}` }
  if (outcome.status !== 0) return { message: `picker exited with status ${outcome.status}` }
  return null
}

const ABORTED = Symbol('aborted')

/** `chunks` as Buffers, ending as soon as `signal` aborts (standard input may never end by itself). */
async function* untilAborted(chunks: AsyncIterable<Buffer | string>, signal: AbortSignal): AsyncGenerator<Buffer> {
  const source = chunks[Symbol.asyncIterator]()
  try {
    while (!signal.aborted) {
      const result = await unlessAborted(source.next(), signal).catch((err: unknown): typeof ABORTED => {
        if (signal.aborted) return ABORTED
        throw err
      })
      if (result === ABORTED || result.done) return
      yield typeof result.value === 'string' ? Buffer.from(result.value) : result.value
    }
  } finally {
    void source.return?.()
  }
}
