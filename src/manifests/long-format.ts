import { displayPath, decodePathField, type FsPath } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import { modeBits } from '../restore/entry-metadata.js'
import { rwx } from '../stages/pick/acl-xattr.js'
import { snapshotLabel } from './snapshot-label.js'

const TYPE_LETTERS: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', fifo: 'p', socket: 's', char: 'c', block: 'b' }

/**
 * The lines of `s3-sysbackup ls --long`, as `tar tv` and `ls -l` write
 * them: type and permissions (`-rw-r--r--`, with setuid, setgid and sticky
 * as `s`/`S`, `s`/`S`, `t`/`T`), owner and group (their names, else their
 * numeric ids), size (a file's content bytes, `MAJOR, MINOR` for a device,
 * 0 otherwise), modification time in UTC to the minute, the path as
 * displayPath shows it, and ` -> TARGET` for a symbolic link. A field the
 * record lacks or garbles is shown as `?`.
 *
 * Lines are written as they come, so the columns cannot be measured first:
 * each starts at a width most values fit, and widens for good when a wider
 * value comes (as GNU tar's listing does). Memory: three numbers.
 */
export class LongFormat {
  private widths = { owner: 8, group: 8, size: 10 }

  /** The line of an entry record (file, dir, symlink, special) at `path`, its decoded path. */
  entry(rec: Rec, path: FsPath): string {
    const letter = TYPE_LETTERS[rec.type === 'special' ? String(rec.kind) : rec.type] ?? '?'
    const mode = letter + permissions(rec.mode)
    const owner = nameOrId(rec.user, rec.uid)
    const group = nameOrId(rec.group, rec.gid)
    const size = rec.type === 'file' ? count(rec.size)
      : rec.type === 'special' && (rec.kind === 'char' || rec.kind === 'block') ? deviceNumbers(rec.rdev) : '0'
    let name = displayPath(path)
    if (rec.type === 'symlink') name += ` -> ${target(rec)}`
    return this.line(mode, owner, group, size, minuteOfNs(rec.mtimeNs), name)
  }

  /** The line of a snapshot record: its size and the time it was taken, as `snapshot:NAME`. */
  snapshot(rec: Rec): string {
    const time = typeof rec.startedAt === 'string' ? minuteOf(new Date(rec.startedAt)) : undefined
    return this.line('snapshot', '-', '-', count(rec.size), time, displayPath(snapshotLabel(String(rec.name))))
  }

  private line(mode: string, owner: string, group: string, size: string, time: string | undefined, name: string): string {
    const w = this.widths
    w.owner = Math.max(w.owner, owner.length)
    w.group = Math.max(w.group, group.length)
    w.size = Math.max(w.size, size.length)
    return `${mode.padEnd(10)} ${owner.padEnd(w.owner)} ${group.padEnd(w.group)} ${size.padStart(w.size)} ${time ?? '????-??-?? ??:??'} ${name}\n`
  }
}

/** `rwxr-xr-x` of a record's 4-octal-digit mode, with the setuid, setgid and sticky letters. */
export function permissions(mode: unknown): string {
  if (typeof mode !== 'string' || !/^[0-7]{4}$/.test(mode)) return '?????????'
  const bits = modeBits(mode)
  const triad = (shift: number, special: number, letter: string) => {
    const perms = rwx(bits >> shift)
    if ((bits & special) === 0) return perms
    return perms.slice(0, 2) + (perms[2] === 'x' ? letter : letter.toUpperCase())
  }
  return triad(6, 0o4000, 's') + triad(3, 0o2000, 's') + triad(0, 0o1000, 't')
}

function count(n: unknown): string {
  return Number.isSafeInteger(n) ? String(n) : '?'
}

function nameOrId(name: unknown, id: unknown): string {
  if (typeof name === 'string' && name !== '') return name
  return Number.isSafeInteger(id) ? String(id) : '?'
}

/** `MAJOR, MINOR` of a Linux device number (glibc's gnu_dev_major and gnu_dev_minor). */
function deviceNumbers(rdev: unknown): string {
  if (!Number.isSafeInteger(rdev) || (rdev as number) < 0) return '?'
  const dev = BigInt(rdev as number)
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  return `${major}, ${minor}`
}

function target(rec: Rec): string {
  try {
    return displayPath(decodePathField(rec, 'target'))
  } catch {
    return '?'
  }
}

/** `YYYY-MM-DD HH:MM` (UTC) of a decimal string of nanoseconds since the epoch. */
function minuteOfNs(ns: unknown): string | undefined {
  if (typeof ns !== 'string' || !/^-?\d{1,20}$/.test(ns)) return undefined
  // Floor, not truncation: a time before 1970 belongs to the minute that began before it.
  const ms = BigInt(ns) / 1_000_000n - (BigInt(ns) % 1_000_000n < 0n ? 1n : 0n)
  return minuteOf(new Date(Number(ms)))
}

function minuteOf(date: Date): string | undefined {
  if (Number.isNaN(date.getTime())) return undefined
  // Split at the T, not at fixed offsets: a year past 9999 is written +010000.
  const [day, time] = date.toISOString().split('T') as [string, string]
  return `${day} ${time.slice(0, 5)}`
}
