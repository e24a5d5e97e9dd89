import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError } from '../cli/errors.js'

/** A system user as the target system knows it. */
export interface SystemUser {
  name: string
  uid: number
  gid: number
  /** Name of the primary group, or its number when the group file does not name it. */
  group: string
}

/**
 * Looks a user up in `<root>/etc/passwd` (and its primary group in
 * `<root>/etc/group`): the target system's files, not the running one's,
 * so that an image or package root gets its own ids. Throws UsageError
 * naming the file when the user is not there.
 */
export function lookupUser(root: string, name: string): SystemUser {
  const passwd = join(root, 'etc/passwd')
  const entry = readTable(passwd).find((f) => f[0] === name)
  if (!entry) throw new UsageError(`--user ${name}: no such user in ${passwd}`)
  const uid = Number(entry[2])
  const gid = Number(entry[3])
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new UsageError(`${passwd}: malformed entry for ${name}`)
  const group = readTable(join(root, 'etc/group'), true).find((f) => Number(f[2]) === gid)?.[0] ?? String(gid)
  return { name, uid, gid, group }
}

function readTable(path: string, optional = false): string[][] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (optional) return []
    throw new UsageError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'))
}
