import minimist from 'minimist'
import { matchChoice, notOneOf } from '../util/choice.js'
import { UsageError } from './errors.js'

/**
 * One command-line option. The same list drives parsing, `--help` and the
 * test that checks every option appears in the man page.
 *
 * Types: `flag` takes no value; `string` and `number` take one; `list` may
 * be repeated and collects every value. A flag named `no-x` is written
 * `--no-x` and is true when given.
 */
export interface OptionSpec {
  name: string
  type: 'flag' | 'string' | 'number' | 'list'
  /** Single-letter alias, e.g. `h` for help. */
  alias?: string
  /** Placeholder for the value in help text, e.g. `DIR`. */
  arg?: string
  help: string
}

/** Every command accepts these. */
export const COMMON_OPTIONS: OptionSpec[] = [
  { name: 'help', alias: 'h', type: 'flag', help: 'show this help and exit' },
  { name: 'version', type: 'flag', help: 'print the version and exit' },
]

/** Parsed command line: option values by spec name, and positional arguments. */
export class ParsedArgs {
  constructor(private readonly values: Map<string, unknown>, readonly positionals: string[]) {}

  flag(name: string): boolean {
    return this.values.get(name) === true
  }

  string(name: string): string | undefined {
    return this.values.get(name) as string | undefined
  }

  number(name: string): number | undefined {
    return this.values.get(name) as number | undefined
  }

  /** A string option that must name one of `choices`, in any case; returned as `choices` spells it. */
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const text = this.string(name)
    if (text === undefined) return undefined
    const value = matchChoice(text, choices)
    if (value === undefined) throw new UsageError(`--${name}: ${notOneOf(text, choices)}`)
    return value
  }

  list(name: string): string[] {
    return (this.values.get(name) as string[] | undefined) ?? []
  }

  has(name: string): boolean {
    return this.values.has(name)
  }
}

/**
 * Parses argv against the specs. Throws UsageError for an unknown option, a
 * missing value, a repeated single-valued option or a bad number.
 */
export function parseArgs(specs: OptionSpec[], argv: string[]): ParsedArgs {
  const all = [...COMMON_OPTIONS, ...specs]
  const flags: string[] = []
  const strings: string[] = []
  const alias: Record<string, string> = {}
  for (const spec of all) {
    if (spec.type === 'flag') {
      // minimist turns --no-x into x=false; register x so it is not "unknown".
      flags.push(spec.name.startsWith('no-') ? spec.name.slice(3) : spec.name)
    } else {
      strings.push(spec.name)
    }
    if (spec.alias) alias[spec.alias] = spec.name
  }
  const parsed = minimist(argv, {
    boolean: flags,
    string: strings,
    alias,
    stopEarly: false,
    unknown: (arg) => {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg.split('=')[0]} (see --help)`)
      return true
    },
  })
  const values = new Map<string, unknown>()
  for (const spec of all) {
    const key = spec.type === 'flag' && spec.name.startsWith('no-') ? spec.name.slice(3) : spec.name
    const raw = parsed[key]
    if (spec.type === 'flag') {
      const given = argv.some((a) => a === `--${spec.name}` || a === `--${key}` || (spec.alias !== undefined && a === `-${spec.alias}`))
      if (!given) continue
      values.set(spec.name, spec.name.startsWith('no-') ? raw === false : raw === true)
      continue
    }
    if (raw === undefined) continue
    const items = (Array.isArray(raw) ? raw : [raw]).map(String)
    if (items.some((v) => v === '')) throw new UsageError(`option --${spec.name} needs a value${spec.arg ? ` (${spec.arg})` : ''}`)
    if (spec.type === 'list') {
      values.set(spec.name, items)
    } else if (items.length > 1) {
      throw new UsageError(`option --${spec.name} given more than once`)
    } else if (spec.type === 'number') {
      const n = Number(items[0])
      if (!Number.isFinite(n)) throw new UsageError(`option --${spec.name}: "${items[0]}" is not a number`)
      values.set(spec.name, n)
    } else {
      values.set(spec.name, items[0])
    }
  }
  return new ParsedArgs(values, parsed._.map(String))
}

/** Help text: synopsis, one paragraph, the options, and the man page to read. */
export function formatHelp(
  command: string,
  synopsis: string,
  summary: string,
  specs: OptionSpec[],
  manPage: string,
): string {
  const rows = [...specs, ...COMMON_OPTIONS].map((s) => {
    const names = (s.alias ? `-${s.alias}, ` : '    ') + `--${s.name}` + (s.type === 'flag' ? '' : ` ${s.arg ?? 'VALUE'}`)
    return [names, s.help + (s.type === 'list' ? ' (repeatable)' : '')] as const
  })
  const width = Math.min(32, Math.max(...rows.map(([n]) => n.length)) + 2)
  const lines = rows.map(([n, h]) => (n.length + 2 > width ? `  ${n}\n  ${' '.repeat(width)}${h}` : `  ${n.padEnd(width)}${h}`))
  return `Usage: ${command} ${synopsis}\n\n${summary}\n\nOptions:\n${lines.join('\n')}\n\nSee ${manPage}.\n`
}
