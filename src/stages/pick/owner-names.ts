import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

export interface OwnerNameSources {
  passwd: string
  group: string
  /** Environment for `getent` (its PATH). */
  env: NodeJS.ProcessEnv
}

type Database = 'passwd' | 'group'

/**
 * Names of user and group ids, as the machine knows them.
 *
 * /etc/passwd and /etc/group are read once, on first use. An id not found
 * there (an LDAP or sssd account, say) is asked of `getent` once; the
 * answer, a name or none, is cached, so a run spawns at most one `getent`
 * per unique unknown id. Ids with no name at all get none: the record then
 * carries only the number.
 */
export class OwnerNames {
  private users: Map<number, string | null> | undefined
  private groups: Map<number, string | null> | undefined

  constructor(private readonly sources: OwnerNameSources) {}

  user(uid: number): string | undefined {
    this.users ??= readNames(this.sources.passwd)
    return this.lookup(this.users, 'passwd', uid)
  }

  group(gid: number): string | undefined {
    this.groups ??= readNames(this.sources.group)
    return this.lookup(this.groups, 'group', gid)
  }

  private lookup(names: Map<number, string | null>, database: Database, id: number): string | undefined {
    let name = names.get(id)
    if (name === undefined) {
      name = askGetent(database, id, this.sources.env)
      names.set(id, name)
    }
    return name ?? undefined
  }
}

/**
 * The `name:…:id:…` lines of a passwd or group file, by id. The first name
 * of an id wins, as with getpwuid(3). A missing file gives no names.
 */
export function readNames(file: string): Map<number, string | null> {
  const names = new Map<number, string | null>()
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return names
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':')
    const name = fields[0]
    const id = fields[2]
    // `+`/`-` lines are NIS compat entries, not accounts.
    if (!name || name.startsWith('#') || name.startsWith('+') || name.startsWith('-') || id === undefined || !/^\d+$/.test(id)) continue
    const n = Number(id)
    if (!names.has(n)) names.set(n, name)
  }
  return names
}

/** `getent passwd|group ID`'s name, or null when it knows none (or is missing). */
function askGetent(database: Database, id: number, env: NodeJS.ProcessEnv): string | null {
  const result = spawnSync('getent', [database, String(id)], { encoding: 'utf8', env, timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] })
  if (result.status !== 0 || typeof result.stdout !== 'string') return null
  const name = result.stdout.split(':')[0]
  return name ? name : null
}
