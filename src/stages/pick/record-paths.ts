import { constants, lstatSync, readlinkSync, type BigIntStats } from 'node:fs'
import type { StageContext } from '../../cli/stage.js'
import { displayPath } from '../../protocol/path-codec.js'
import { errnoText } from '../../util/errno-text.js'
import type { EntryRecord, Rec } from '../../protocol/records.js'
import { describeEntry } from './describe-entry.js'
import type { OwnerNames } from './owner-names.js'

/** Symbolic links followed in one resolution at most, as the kernel's MAXSYMLINKS. */
export const MAX_SYMLINKS = 40

const SLASH = 0x2f
const DOT = 0x2e
const ROOT_PATH = Buffer.from('/')
const EMPTY = Buffer.alloc(0)
const LSTAT = { bigint: true, throwIfNoEntry: false } as const
const { S_IFMT, S_IFDIR, S_IFLNK } = constants

/**
 * A filesystem object this run has looked at. Together they mirror the
 * part of the tree the run has seen: each directory maps the names looked
 * at in it to their nodes.
 */
interface Node {
  kind: 'dir' | 'link' | 'other'
  /** The real path (no symlink, `.` or `..` in it); a directory's or link's is a copy of its own. */
  path: Buffer
  /** The real parent directory; null for `/`. */
  parent: Node | null
  /** The record, until it is emitted. */
  rec: EntryRecord | null
  emitted: boolean
  /** A directory's entries looked at so far, by name as a latin1 string (byte-exact). */
  children: Map<string, Node> | null
  /** A link's raw target. */
  target: Buffer | null
  /** Whether a link's chain has been followed. */
  followed: boolean
  /** How a link resolves as a directory, once known (a loop, which depends on the budget left, is not kept). */
  resolved: Outcome | null
}

/** How a directory path resolves: the real directory, and the links passed through to reach it. */
interface Resolution {
  dir: Node
  via: Node[]
}

/** Why a path could not be reached: an errno code and the path where it happened. */
interface Failure {
  code: string
  at: Buffer
  detail?: string
}

type Outcome = Resolution | Failure

/** The resolution of a parent directory as the input spelled it. */
interface SpelledParent {
  outcome: Outcome
  /** True when the spelling is already the real path (no links, dots or doubled slashes). */
  real: boolean
}

interface Budget {
  left: number
}

const NO_VIA: Node[] = []

function isFailure(outcome: Outcome | Node): outcome is Failure {
  return 'code' in outcome
}

/**
 * Turns picked paths into entry records: each object once per run, each
 * ancestor directory (but `/`) recorded before the first entry beneath it,
 * symlinks recorded and followed.
 *
 * Paths are bytes from start to end. A parent directory is resolved once,
 * component by component, into a tree of the nodes seen so far, and its
 * spelling is remembered, so 20,000 files in 1,000 directories cost about
 * 1,000 extra lstat calls. Symlinks among the ancestors (`/lib -> usr/lib`)
 * get their record and the entry is recorded at its real location; a
 * picked symlink is recorded and its chain followed to the final target
 * (at most MAX_SYMLINKS links; a loop or a dangling link is a warning,
 * never a hang). `..` is taken physically, as the kernel does. Nothing is
 * ever opened: lstat and readlink only, synchronously, because a warm run
 * is bound by them and a thread-pool round trip per call would cost more
 * than the call.
 */
export class PathRecorder {
  private readonly root: Node = newNode('dir', ROOT_PATH, null, null)
  private rootRecorded = false
  /** How a parent directory resolves, by its spelling in the input. */
  private readonly spelled = new Map<string, SpelledParent>()
  /** The last parent resolved, and its spelling: consecutive paths mostly share it. */
  private lastSpelling: Buffer = EMPTY
  private lastParent: SpelledParent | null = null

  constructor(private readonly ctx: StageContext, private readonly names: OwnerNames) {
    this.root.emitted = true // never recorded as an ancestor
  }

  /**
   * Appends to `out` the records for one picked path: its ancestors not yet
   * recorded, the entry, the rest of its symlink chain, and any problem.
   * A relative path is taken relative to `base`, an absolute real path.
   */
  add(raw: Buffer, base: Buffer, out: Rec[]): void {
    const counts = this.ctx.counts
    counts.paths = (counts.paths ?? 0) + 1
    if (raw.includes(0)) {
      out.push(this.ctx.problem('warning', `not a path (contains a NUL byte): ${displayPath(raw)}`))
      return
    }
    const abs = raw[0] === SLASH ? raw : joinPath(base, raw)
    let end = abs.length
    while (end > 1 && abs[end - 1] === SLASH) end--
    if (end === 1) {
      this.addRoot(out)
      return
    }
    const spelledPath = end === abs.length ? abs : abs.subarray(0, end)
    const slash = abs.lastIndexOf(SLASH, end - 1)
    const name = abs.subarray(slash + 1, end)
    const parent = this.parentOf(abs, slash)
    if (isFailure(parent.outcome)) {
      this.unreachable(parent.outcome, spelledPath, out)
      return
    }
    if (isDots(name)) {
      // `/x/..`: the entry is a directory found by resolving the whole path.
      const whole = this.resolveDir(this.root, components(spelledPath), { left: MAX_SYMLINKS })
      if (isFailure(whole)) return this.unreachable(whole, spelledPath, out)
      if (whole.dir === this.root) return this.addRoot(out)
      this.emitVia(whole.via, out)
      this.emit(whole.dir, out)
      return
    }
    const dir = parent.outcome.dir
    const key = name.toString('latin1')
    const child = this.child(dir, name, key, parent.real ? spelledPath : null)
    if (isFailure(child)) return this.unreachable(child, spelledPath, out)
    this.emitVia(parent.outcome.via, out)
    this.emitEntry(dir, key, child, out)
    if (child.kind === 'link' && !child.followed) this.follow(child, out)
  }

  /** `/` itself, when a picker names it: recorded once, like any directory. */
  private addRoot(out: Rec[]): void {
    if (this.rootRecorded) return
    this.rootRecorded = true
    const looked = this.look(ROOT_PATH, null)
    if (isFailure(looked)) return this.unreachable(looked, ROOT_PATH, out)
    this.push(looked.rec!, out)
  }

  /** The parent directory of `abs` (which ends at `slash`), resolved once per spelling. */
  private parentOf(abs: Buffer, slash: number): SpelledParent {
    const last = this.lastSpelling
    if (this.lastParent !== null && slash === last.length && abs.compare(last, 0, slash, 0, slash) === 0) return this.lastParent
    const key = abs.toString('latin1', 0, slash)
    let parent = this.spelled.get(key)
    if (parent === undefined) {
      if (slash === 0) {
        parent = { outcome: { dir: this.root, via: NO_VIA }, real: true }
      } else {
        const spelling = abs.subarray(0, slash)
        const outcome = this.resolveDir(this.root, components(spelling), { left: MAX_SYMLINKS })
        parent = { outcome, real: !isFailure(outcome) && outcome.via.length === 0 && outcome.dir.path.equals(spelling) }
      }
      this.spelled.set(key, parent)
    }
    this.lastSpelling = Buffer.from(abs.subarray(0, slash))
    this.lastParent = parent
    return parent
  }

  /**
   * The node of `dir/name` (`key` is the name as latin1), looked at once
   * per run. `path` is that path when the caller has it already.
   */
  private child(dir: Node, name: Buffer, key: string, path: Buffer | null): Node | Failure {
    const children = dir.children!
    let node = children.get(key)
    if (node === undefined) {
      const looked = this.look(path ?? joinPath(dir.path, name), dir)
      if (isFailure(looked)) return looked
      node = looked
      children.set(key, node)
    }
    return node
  }

  /**
   * Emits the entry `dir/key` and its ancestors. A file or special file is
   * then only remembered as done: most entries are, and each costs little
   * more than its name.
   */
  private emitEntry(dir: Node, key: string, node: Node, out: Rec[]): void {
    if (node.emitted) return
    this.emit(node, out)
    if (node.kind === 'other') dir.children!.set(key, DONE)
  }

  /**
   * Walks `names` from the directory `start`: each component must be a
   * directory or a link that resolves to one.
   */
  private resolveDir(start: Node, names: Buffer[], budget: Budget): Outcome {
    let dir = start
    let via = NO_VIA
    for (const name of names) {
      if (isDotDot(name)) {
        dir = dir.parent ?? dir
        continue
      }
      const node = this.child(dir, name, name.toString('latin1'), null)
      if (isFailure(node)) return node
      if (node.kind === 'dir') {
        dir = node
        continue
      }
      if (node.kind === 'other') return { code: 'ENOTDIR', at: joinPath(dir.path, name) }
      const step = this.resolveLink(node, budget)
      if (isFailure(step)) return step
      via = via.concat(step.via)
      dir = step.dir
    }
    return { dir, via }
  }

  /** How a link resolves as a directory: the links passed through (itself first) and the directory. */
  private resolveLink(link: Node, budget: Budget): Outcome {
    let step = link.resolved
    if (step === null) {
      if (--budget.left < 0) return { code: 'ELOOP', at: link.path }
      const target = this.resolveDir(link.target![0] === SLASH ? this.root : link.parent!, components(link.target!), budget)
      step = isFailure(target) ? target : { dir: target.dir, via: [link, ...target.via] }
      if (!(isFailure(step) && step.code === 'ELOOP')) link.resolved = step
      return step
    }
    if (!isFailure(step)) {
      budget.left -= step.via.length
      if (budget.left < 0) return { code: 'ELOOP', at: link.path }
    }
    return step
  }

  /**
   * Follows a picked link's chain: a record for each further link and for
   * the final target. Dangling links and loops are warnings.
   */
  private follow(link: Node, out: Rec[]): void {
    link.followed = true
    const visited = new Set<Node>([link])
    const budget: Budget = { left: MAX_SYMLINKS }
    let current = link
    for (;;) {
      if (--budget.left < 0) return this.linkProblem(current, { code: 'ELOOP', at: current.path }, out)
      const target = current.target!
      const start = target[0] === SLASH ? this.root : current.parent!
      const names = components(target)
      const last = names.pop()
      let next: Node
      let via: Node[]
      if (last === undefined || isDotDot(last)) {
        if (last !== undefined) names.push(last)
        const resolved = this.resolveDir(start, names, budget)
        if (isFailure(resolved)) return this.linkProblem(current, resolved, out)
        if (resolved.dir === this.root) return
        next = resolved.dir
        via = resolved.via
      } else {
        const parent = this.resolveDir(start, names, budget)
        if (isFailure(parent)) return this.linkProblem(current, parent, out)
        const key = last.toString('latin1')
        const node = this.child(parent.dir, last, key, null)
        if (isFailure(node)) return this.linkProblem(current, node, out)
        this.emitVia(parent.via, out)
        this.emitEntry(parent.dir, key, node, out)
        if (node.kind !== 'link') return
        next = node
        via = NO_VIA
      }
      this.emitVia(via, out)
      this.emit(next, out)
      if (next.kind !== 'link') return
      if (visited.has(next)) return this.linkProblem(current, { code: 'ELOOP', at: next.path, detail: 'symlink loop' }, out)
      visited.add(next)
      next.followed = true
      current = next
    }
  }

  /** lstat (and readlink) of `path`, whose real parent is `parent`: a node not yet emitted. */
  private look(path: Buffer, parent: Node | null): Node | Failure {
    let st: BigIntStats | undefined
    let target: Buffer | null = null
    try {
      st = lstatSync(path, LSTAT)
      if (st === undefined) return { code: 'ENOENT', at: ownCopy(path) }
      if ((Number(st.mode) & S_IFMT) === S_IFLNK) target = readlinkSync(path, { encoding: 'buffer' })
    } catch (err) {
      return { code: (err as NodeJS.ErrnoException).code ?? 'EIO', at: ownCopy(path) }
    }
    const type = Number(st.mode) & S_IFMT
    const kind = type === S_IFDIR ? 'dir' : type === S_IFLNK ? 'link' : 'other'
    let rec: EntryRecord
    try {
      rec = describeEntry(path, st, this.names, target ?? undefined)
    } catch (err) {
      return { code: 'EINVAL', at: ownCopy(path), detail: (err as Error).message }
    }
    // Directories and links are kept for the walk: their path gets memory of
    // its own, not a view of the picker's output or a slice of a shared pool.
    const node = newNode(kind, kind === 'other' ? path : ownCopy(path), parent, rec)
    node.target = target
    return node
  }

  private emitVia(via: Node[], out: Rec[]): void {
    for (const link of via) this.emit(link, out)
  }

  /** Emits `node` after its ancestors, unless already done. */
  private emit(node: Node, out: Rec[]): void {
    if (node.emitted) return
    if (node.parent !== null && !node.parent.emitted) this.emit(node.parent, out)
    node.emitted = true
    this.push(node.rec!, out)
    node.rec = null
  }

  private push(rec: EntryRecord, out: Rec[]): void {
    const counts = this.ctx.counts
    counts.entries = (counts.entries ?? 0) + 1
    switch (rec.type) {
      case 'file': counts.files = (counts.files ?? 0) + 1; break
      case 'dir': counts.dirs = (counts.dirs ?? 0) + 1; break
      case 'symlink': counts.symlinks = (counts.symlinks ?? 0) + 1; break
      default: counts.special = (counts.special ?? 0) + 1
    }
    out.push(rec)
  }

  /** A picked path that could not be reached: missing is a warning, anything else an error. */
  private unreachable(failure: Failure, path: Buffer, out: Rec[]): void {
    const where = failure.at.equals(path) ? '' : ` (at ${displayPath(failure.at)})`
    if (failure.code === 'ENOENT') {
      this.ctx.count('missing')
      out.push(this.ctx.problem('warning', `no such file or directory${where}`, { path, code: 'ENOENT' }))
    } else if (failure.code === 'ELOOP') {
      out.push(this.ctx.problem('warning', `too many levels of symbolic links${where}`, { path, code: 'ELOOP' }))
    } else {
      out.push(this.ctx.problem('error', `${failure.detail ?? errnoText(failure.code)}${where}`, { path, code: failure.code }))
    }
  }

  /** A link whose chain ends in a problem: a dangling link or a loop is a warning, anything else an error. */
  private linkProblem(link: Node, failure: Failure, out: Rec[]): void {
    const target = displayPath(link.target!)
    if (failure.code === 'ENOENT') {
      this.ctx.count('dangling')
      const where = failure.at.equals(link.path) ? '' : ` (${displayPath(failure.at)} does not exist)`
      out.push(this.ctx.problem('warning', `dangling symlink to ${target}${where}`, { path: link.path, code: 'ENOENT' }))
    } else if (failure.code === 'ELOOP') {
      out.push(this.ctx.problem('warning', `${failure.detail ?? 'too many levels of symbolic links'} (link to ${target})`, { path: link.path, code: 'ELOOP' }))
    } else {
      out.push(this.ctx.problem('error', `cannot follow symlink to ${target}: ${failure.detail ?? errnoText(failure.code)} at ${displayPath(failure.at)}`, { path: link.path, code: failure.code }))
    }
  }
}

/** What an emitted file or special file becomes in its directory's map. */
const DONE: Node = {
  kind: 'other', path: EMPTY, parent: null, rec: null, emitted: true, children: null, target: null, followed: false, resolved: null,
}

function ownCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length)
  bytes.copy(copy)
  return copy
}

function newNode(kind: Node['kind'], path: Buffer, parent: Node | null, rec: EntryRecord | null): Node {
  return {
    kind, path, parent, rec, emitted: false, children: kind === 'dir' ? new Map() : null, target: null, followed: false, resolved: null,
  }
}

/** `dir/name` as bytes. */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 1 && dir[0] === SLASH) {
    const out = Buffer.allocUnsafe(name.length + 1)
    out[0] = SLASH
    name.copy(out, 1)
    return out
  }
  const out = Buffer.allocUnsafe(dir.length + 1 + name.length)
  dir.copy(out, 0)
  out[dir.length] = SLASH
  name.copy(out, dir.length + 1)
  return out
}

/** The components of a path, without empty ones and `.`; `..` is kept. */
export function components(path: Buffer): Buffer[] {
  const names: Buffer[] = []
  let start = 0
  while (start <= path.length) {
    let end = path.indexOf(SLASH, start)
    if (end < 0) end = path.length
    if (end > start && !(end === start + 1 && path[start] === DOT)) names.push(path.subarray(start, end))
    start = end + 1
  }
  return names
}

function isDotDot(name: Buffer): boolean {
  return name.length === 2 && name[0] === DOT && name[1] === DOT
}

function isDots(name: Buffer): boolean {
  return (name.length === 1 && name[0] === DOT) || isDotDot(name)
}
