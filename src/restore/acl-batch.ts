import { spawn } from 'node:child_process'
import { closeSync } from 'node:fs'
import { unescapeName } from '../stages/pick/acl-reader.js'
import { rwx } from '../stages/pick/acl-xattr.js'
import type { OwnerIds } from './owner-ids.js'

/** One entry whose POSIX ACLs to set. */
export interface AclItem {
  /** An O_PATH descriptor of the entry (see on-disk.ts pin); the batch closes it. */
  fd: number
  /** Extended access ACL, short text form as sysbackup-pick records it. */
  acl?: string
  /** Default ACL of a directory, short text form. */
  defaultAcl?: string
  /** The entry's permission bits: the base of the access ACL when only a default ACL is set. */
  mode: number
  /** Called when this entry's ACLs could not be set. */
  failed: (message: string) => void
}

export interface AclBatchOptions {
  /** Environment for setfacl (PATH; credentials scrubbed by the caller). */
  env: NodeJS.ProcessEnv
  owners: OwnerIds
  /** Entries per setfacl process (and descriptors held meanwhile). */
  maxEntries?: number
  /** Called once per entry whose ACLs were set. */
  onSet?: () => void
}

const ENTRY = /^(user|group):([^:]*):([r-][w-][x-])$|^(mask|other):(?:):?([r-][w-][x-])$/

/**
 * Why an ACL text cannot be given to setfacl, or null when it can: every
 * entry must be `user|group:[name]:rwx` or `mask|other::rwx`, and every
 * name must exist on this machine (setfacl refuses an unknown name with a
 * bare "Invalid argument" that names no file, and stops there).
 */
export function aclProblem(text: string, owners: OwnerIds): string | null {
  for (const entry of text.split(',')) {
    const m = ENTRY.exec(entry)
    if (!m) return `"${entry}" is not an ACL entry`
    const name = m[2] !== undefined && m[2] !== '' ? unescapeName(Buffer.from(m[2], 'latin1')).toString('utf8') : undefined
    if (name === undefined) continue
    if (m[1] === 'user' ? !owners.knowsUser(name) : !owners.knowsGroup(name)) {
      return `names ${m[1]} "${name}", which does not exist on this machine`
    }
  }
  return null
}

/**
 * Sets POSIX ACLs in batches: one `setfacl --restore=-` process per
 * `maxEntries` entries (never one per file), fed getfacl-format text on
 * stdin. Each entry is named by `/proc/PID/fd/N` of a descriptor this
 * process holds, so setfacl reaches exactly the inode that was restored,
 * through no directory and no symlink, and the names need no escaping.
 * setfacl stops at the first entry it cannot set; when a batch fails, its
 * entries are set one by one, so the failure is pinned on its entry.
 */
export class AclBatch {
  private items: AclItem[] = []
  private running: Promise<void> = Promise.resolve()
  private readonly maxEntries: number
  unavailable: string | undefined

  constructor(private readonly options: AclBatchOptions) {
    this.maxEntries = options.maxEntries ?? 256
  }

  /** Queues an entry (its ACL text checked first); runs a batch when enough are queued. */
  async add(item: AclItem): Promise<void> {
    const problem = (item.acl !== undefined ? aclProblem(item.acl, this.options.owners) : null)
      ?? (item.defaultAcl !== undefined ? aclProblem(item.defaultAcl, this.options.owners) : null)
    if (problem !== null) {
      closeSync(item.fd)
      item.failed(`ACL not restored: ${problem}`)
      return
    }
    this.items.push(item)
    if (this.items.length >= this.maxEntries) await this.flush()
  }

  /** Runs the queued entries; resolves when every batch so far is done. */
  flush(): Promise<void> {
    const batch = this.items
    this.items = []
    if (batch.length > 0) this.running = this.running.then(() => this.run(batch))
    return this.running
  }

  private async run(batch: AclItem[]): Promise<void> {
    try {
      const failure = await this.setfacl(batch)
      if (failure === null) {
        for (let i = 0; i < batch.length; i++) this.options.onSet?.()
        return
      }
      if (batch.length === 1 || this.unavailable !== undefined) {
        for (const item of batch) item.failed(`ACL not restored: ${this.unavailable ?? failure}`)
        return
      }
      for (const item of batch) {
        const alone = await this.setfacl([item])
        if (alone === null) this.options.onSet?.()
        else item.failed(`ACL not restored: ${alone}`)
      }
    } finally {
      for (const item of batch) closeSync(item.fd)
    }
  }

  /** Runs one setfacl over `items`; null when it succeeded, else its complaint. */
  private setfacl(items: AclItem[]): Promise<string | null> {
    const text = items.map(restoreBlock).join('')
    return new Promise((resolve) => {
      const child = spawn('setfacl', ['--restore=-'], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...this.options.env, LC_ALL: 'C' } })
      let err = ''
      child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
      child.stdin.on('error', () => {})
      child.on('error', (e: NodeJS.ErrnoException) => {
        this.unavailable = e.code === 'ENOENT' ? 'setfacl was not found on PATH (install the acl package)' : `setfacl cannot be run: ${e.message}`
        resolve(this.unavailable)
      })
      child.on('close', (status) => {
        if (this.unavailable !== undefined) return
        if (status === 0) resolve(null)
        else resolve(err.split('\n').filter(Boolean).map((l) => l.replace(/^setfacl: (\/proc\/\d+\/fd\/\d+: )?/, '')).join('; ') || `setfacl ended with status ${status}`)
      })
      child.stdin.end(text)
    })
  }
}

/** The getfacl-format block of one entry: `# file:` and `# flags:` lines, access entries, default entries, blank line. */
function restoreBlock(item: AclItem): string {
  const access = item.acl !== undefined ? item.acl.split(',') : baseEntries(item.mode)
  const defaults = item.defaultAcl !== undefined ? item.defaultAcl.split(',').map((e) => `default:${e}`) : []
  return `# file: /proc/${process.pid}/fd/${item.fd}\n# flags: ${flags(item.mode)}\n${[...access, ...defaults].join('\n')}\n\n`
}

/**
 * getfacl's `# flags:` of a mode (setuid, setgid, sticky as `sst`): setfacl
 * --restore sets them as this line says, clearing them when it is absent.
 */
function flags(mode: number): string {
  return `${mode & 0o4000 ? 's' : '-'}${mode & 0o2000 ? 's' : '-'}${mode & 0o1000 ? 't' : '-'}`
}

/** The three access entries the mode bits stand for (setfacl wants an access ACL in every block). */
function baseEntries(mode: number): string[] {
  return [`user::${rwx(mode >> 6)}`, `group::${rwx(mode >> 3)}`, `other::${rwx(mode)}`]
}
