import { isUtf8 } from 'node:buffer'
import { accessSync, constants, lstatSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../cli/errors.js'
import { displayPath } from '../protocol/path-codec.js'

/** A configured program to run (a picker, a snapshotter). */
export interface Program {
  /** Its file name in the directory. */
  name: string
  /** Its path, as run. */
  path: string
}

/**
 * The programs of a directory such as `pickers.d` or `snapshots.d`: its
 * entries in byte order of name, names beginning with `.` ignored (the way
 * to disable one). Every other entry must be an executable regular file or
 * a symlink to one; anything else is a configuration mistake that would
 * silently lose part of the backup, so it throws ConfigError naming the
 * entry and what is wrong with it (`noun` names what the programs are, as
 * in "picker"). Null when the directory does not exist; ConfigError when it
 * is not a directory or cannot be read.
 */
export function listPrograms(dir: string, noun: string): Program[] | null {
  let names: Buffer[]
  try {
    names = readdirSync(dir, { encoding: 'buffer' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    if (code === 'ENOTDIR') throw new ConfigError(`${dir}: not a directory`)
    throw new ConfigError(`${dir}: cannot read the ${noun}s directory: ${code ?? (err as Error).message}`)
  }
  const dirName = dir.slice(dir.lastIndexOf('/') + 1)
  const programs: Program[] = []
  for (const raw of names.filter((n) => n[0] !== 0x2e).sort(Buffer.compare)) {
    if (!isUtf8(raw)) throw new ConfigError(`${dir}/${displayPath(raw)}: ${noun} name is not valid UTF-8; rename it`)
    const name = raw.toString('utf8')
    const path = join(dir, name)
    const problem = programProblem(path)
    if (problem !== null) {
      throw new ConfigError(`${path}: ${problem}; ${dirName} may hold only executable files or symlinks to them (names beginning with "." are ignored)`)
    }
    programs.push({ name, path })
  }
  return programs
}

/** What makes `path` unfit to run, or null. */
function programProblem(path: string): string | null {
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

function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0')
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}
