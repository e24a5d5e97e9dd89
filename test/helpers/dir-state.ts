import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Everything observable about a directory tree, for "nothing changed"
 * checks: for every entry (the root included) its type and mode, owner,
 * group, size, modification and change times, and its content's SHA-256 or
 * symlink target.
 */
export function dirState(root: string): Record<string, string> {
  const state: Record<string, string> = {}
  const visit = (rel: string) => {
    const path = rel === '' ? root : join(root, rel)
    const st = lstatSync(path, { bigint: true })
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} m${st.mtimeNs} c${st.ctimeNs}`
    if (st.isFile()) what += ` ${createHash('sha256').update(readFileSync(path)).digest('hex')}`
    if (st.isSymbolicLink()) what += ` -> ${readlinkSync(path)}`
    state[rel === '' ? '.' : rel] = what
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) visit(rel === '' ? name : join(rel, name))
  }
  visit('')
  return state
}
