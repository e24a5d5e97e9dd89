import { isUtf8 } from 'node:buffer'
import { accessSync, constants, lstatSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../../cli/errors.js'
import { displayPath } from '../../protocol/path-codec.js'
import { modeString } from './describe-entry.js'

/** A picker program to run. */
export interface Picker {
  /** Its file name in pickers.d. */
  name: string
  /** Its path, as run. */
  path: string
}

/**
 * The pickers of the configuration directory `configDir`: the entries of
 * `configDir/pickers.d` in byte order of name, names beginning with `.`
 * ignored (the way to disable one). Every other entry must be an
 * executable regular file or a symlink to one; anything else is a
 * configuration mistake that would silently lose part of the backup, so it
 * throws ConfigError naming the entry and what is wrong with it. A missing
 * pickers.d is a ConfigError too.
 */
export function listPickers(configDir: string): Picker[] {
  const dir = join(configDir, 'pickers.d')
  let names: Buffer[]
  try {
    names = readdirSync(dir, { encoding: 'buffer' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new ConfigError(`${dir}: no pickers directory (put executable pickers there, or read paths with --stdin)`)
    if (code === 'ENOTDIR') throw new ConfigError(`${dir}: not a directory`)
    throw new ConfigError(`${dir}: cannot read the pickers directory: ${code ?? (err as Error).message}`)
  }
  const pickers: Picker[] = []
  for (const raw of names.filter((n) => n[0] !== 0x2e).sort(Buffer.compare)) {
    if (!isUtf8(raw)) throw new ConfigError(`${dir}/${displayPath(raw)}: picker name is not valid UTF-8; rename it`)
    const name = raw.toString('utf8')
    const path = join(dir, name)
    const problem = pickerProblem(path)
    if (problem !== null) {
      throw new ConfigError(`${path}: ${problem}; pickers.d may hold only executable files or symlinks to them (names beginning with "." are ignored)`)
    }
    pickers.push({ name, path })
  }
  return pickers
}

/** What makes `path` unfit to run as a picker, or null. */
function pickerProblem(path: string): string | null {
  let st: Stats
  try {
    const link = lstatSync(path)
    if (link.isSymbolicLink()) {
      try {
        st = statSync(path)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        const target = readlinkSync(path)
        if (code === 'ENOENT') return `dangling symlink (its target ${target} does not exist)`
        if (code === 'ELOOP') return `symlink loop (through ${target})`
        return `cannot reach the symlink's target ${target}: ${code}`
      }
    } else {
      st = link
    }
  } catch (err) {
    return `cannot examine: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`
  }
  if (!st.isFile()) return `is ${fileKind(st)}, not an executable file`
  try {
    accessSync(path, constants.X_OK)
  } catch {
    return `is not executable (mode ${modeString(st.mode)})`
  }
  // As root, access() allows any file with an execute bit; without any, exec fails.
  if ((st.mode & 0o111) === 0) return `is not executable (mode ${modeString(st.mode)})`
  return null
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}
