import { UsageError } from '../cli/errors.js'
import { pathAsLatin1, type FsPath } from '../protocol/path-codec.js'

/**
 * Which entries a partial restore takes: `--include` and `--exclude` glob
 * patterns over the entries' absolute paths (as in the manifest, before
 * the target is prefixed).
 *
 * Pattern syntax: `*` matches any run of characters within one component,
 * `?` one character (not `/`), `[abc]`, `[a-z]` and `[!abc]` one byte of a
 * set, `**` any run of characters across components (`/**\/` also matches
 * a single `/`), `\` takes the next character literally. A pattern that
 * starts with `/` is matched against the whole path; one without `/`
 * against every component name (`*.log`, `.ssh`); any other is taken from
 * the root (`etc/ssh` is `/etc/ssh`). A trailing `/` is ignored.
 *
 * A pattern that matches a directory matches everything beneath it. An
 * entry is selected when no `--include` is given or one matches it, and no
 * `--exclude` matches it: exclusion wins.
 */
export class PathFilter {
  private readonly includes: RegExp[]
  private readonly excludes: RegExp[]
  /** ancestor-or-self verdicts of recent directories, by latin1 path and list. */
  private readonly memo = new Map<string, boolean>()

  /** `names`: what the patterns are called in the messages of a bad one (UsageError). */
  constructor(includes: readonly string[], excludes: readonly string[], names = { include: 'option --include', exclude: 'option --exclude' }) {
    this.includes = includes.map((p) => compileGlob(p, names.include))
    this.excludes = excludes.map((p) => compileGlob(p, names.exclude))
  }

  /** True when every entry is selected. */
  get selectsAll(): boolean {
    return this.includes.length === 0 && this.excludes.length === 0
  }

  /** Whether the entry at `path` is restored. */
  selects(path: FsPath): boolean {
    if (this.selectsAll) return true
    const text = pathAsLatin1(path)
    if (this.includes.length > 0 && !this.matches(text, this.includes, 'i')) return false
    return this.excludes.length === 0 || !this.matches(text, this.excludes, 'e')
  }

  /** Whether any of `patterns` matches `text` or one of its ancestor directories. */
  private matches(text: string, patterns: RegExp[], list: string): boolean {
    if (patterns.some((re) => re.test(text))) return true
    const slash = text.lastIndexOf('/')
    if (slash <= 0) return text !== '/' && patterns.some((re) => re.test('/'))
    const parent = text.slice(0, slash)
    const key = list + parent
    let verdict = this.memo.get(key)
    if (verdict === undefined) {
      verdict = this.matches(parent, patterns, list)
      if (this.memo.size >= 4096) this.memo.clear()
      this.memo.set(key, verdict)
    }
    return verdict
  }
}

/**
 * A regular expression matching whole paths (as latin1 strings: one
 * character per byte) against a glob pattern. Throws UsageError, its
 * message beginning with `name` (`option --include`), for an empty pattern
 * or an unclosed `[`.
 */
export function compileGlob(pattern: string, name: string): RegExp {
  let glob = Buffer.from(pattern, 'utf8').toString('latin1')
  if (glob.length > 1 && glob.endsWith('/') && !glob.endsWith('\\/')) glob = glob.replace(/\/+$/, '') || '/'
  if (glob === '') throw new UsageError(`${name}: empty pattern`)
  let source: string
  if (glob.startsWith('/')) source = translate(glob, pattern, name)
  else if (!glob.includes('/')) source = `(?:.*/)?${translate(glob, pattern, name)}`
  else source = translate('/' + glob, pattern, name)
  return new RegExp(`^${source}$`, 's')
}

function translate(glob: string, pattern: string, name: string): string {
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '\\') {
      const next = glob[i + 1]
      if (next === undefined) throw new UsageError(`${name}: pattern "${pattern}" ends with a lone "\\"`)
      out += escapeRegex(next)
      i++
    } else if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/'
        const atEnd = i + 2 === glob.length || glob[i + 2] === '/'
        i++
        if (atStart && atEnd && glob[i + 1] === '/') {
          // `/**/` is any number of whole components, none included.
          out += '(?:.*/)?'
          i++
        } else {
          out += '.*'
        }
      } else {
        out += '[^/]*'
      }
    } else if (c === '?') {
      out += '[^/\\x80-\\xbf][\\x80-\\xbf]*'
    } else if (c === '[') {
      const close = classEnd(glob, i)
      if (close < 0) throw new UsageError(`${name}: pattern "${pattern}" has "[" without "]"`)
      let body = glob.slice(i + 1, close)
      const negate = body.startsWith('!') || body.startsWith('^')
      if (negate) body = body.slice(1)
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`
      i = close
    } else {
      out += escapeRegex(c)
    }
  }
  return out
}

/** Index of the `]` closing the class that opens at `open`, or -1. A `]` first in the class is literal. */
function classEnd(glob: string, open: number): number {
  let i = open + 1
  if (glob[i] === '!' || glob[i] === '^') i++
  if (glob[i] === ']') i++
  return glob.indexOf(']', i)
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c
}
