import { spawnSync } from 'node:child_process'
import { readNames } from '../stages/pick/owner-names.js'

export interface OwnerIdSources {
  passwd: string
  group: string
  /** Environment for `getent` (its PATH). */
  env: NodeJS.ProcessEnv
}

export const SYSTEM_OWNER_SOURCES = { passwd: '/etc/passwd', group: '/etc/group' } as const

type Database = 'passwd' | 'group'

/**
 * The numeric ids a restore gives entries, from the owner and group names
 * in the manifest as the restoring machine knows them: a name found in
 * /etc/passwd or /etc/group (or, failing that, by `getent`, once per name:
 * LDAP, sssd…) gives its id here; a name unknown here, or an entry without
 * a name, keeps the numeric id it had on the backed-up machine. With
 * `numeric`, names are ignored altogether (`--numeric-owner`: the right
 * choice from a rescue system, whose own /etc/passwd is not the restored one).
 */
export class OwnerIds {
  private users: Map<string, number | null> | undefined
  private groups: Map<string, number | null> | undefined

  constructor(private readonly sources: OwnerIdSources, readonly numeric = false) {}

  /** The uid to give an entry with this name and numeric uid. */
  uid(name: unknown, uid: number): number {
    if (this.numeric || typeof name !== 'string') return uid
    this.users ??= byName(this.sources.passwd)
    return this.lookup(this.users, 'passwd', name) ?? uid
  }

  /** The gid to give an entry with this group name and numeric gid. */
  gid(name: unknown, gid: number): number {
    if (this.numeric || typeof name !== 'string') return gid
    this.groups ??= byName(this.sources.group)
    return this.lookup(this.groups, 'group', name) ?? gid
  }

  /** Whether a user name (as in an ACL entry) exists here, or is numeric. */
  knowsUser(name: string): boolean {
    if (/^\d+$/.test(name)) return true
    this.users ??= byName(this.sources.passwd)
    return this.lookup(this.users, 'passwd', name) !== undefined
  }

  /** Whether a group name exists here, or is numeric. */
  knowsGroup(name: string): boolean {
    if (/^\d+$/.test(name)) return true
    this.groups ??= byName(this.sources.group)
    return this.lookup(this.groups, 'group', name) !== undefined
  }

  private lookup(ids: Map<string, number | null>, database: Database, name: string): number | undefined {
    let id = ids.get(name)
    if (id === undefined) {
      id = askGetent(database, name, this.sources.env)
      ids.set(name, id)
    }
    return id ?? undefined
  }
}

/**
 * Ids by name, from the files sysbackup-pick reads names from (its
 * readNames: the first name of each id). Aliases (a second name of an id)
 * are found through getent.
 */
function byName(file: string): Map<string, number | null> {
  const ids = new Map<string, number | null>()
  for (const [id, name] of readNames(file)) if (name !== null && !ids.has(name)) ids.set(name, id)
  return ids
}

/** `getent passwd|group NAME`'s id, or null when it knows none (or is missing). */
function askGetent(database: Database, name: string, env: NodeJS.ProcessEnv): number | null {
  // A name that getent would take for a number, or an option, is not a name we look up.
  if (/^\d+$/.test(name) || name.startsWith('-') || name.includes(':')) return null
  const result = spawnSync('getent', [database, name], { encoding: 'utf8', env, timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] })
  if (result.status !== 0 || typeof result.stdout !== 'string') return null
  const id = result.stdout.split(':')[2]
  return id !== undefined && /^\d+$/.test(id) ? Number(id) : null
}
