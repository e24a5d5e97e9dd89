import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { isUtf8 } from 'node:buffer'
import { delimiter, join } from 'node:path'

/** The POSIX ACLs of one entry, in short text form; each only when the entry has one. */
export interface AclText {
  acl?: string
  defaultAcl?: string
}

/** What one getfacl run found. */
export interface AclBatch {
  /** ACLs by aclKey() of the path; entries with neither ACL are absent. */
  acls: Map<string, AclText>
  /** getfacl's complaints, one line each (a file that vanished, …). */
  problems: string[]
  /** Set when getfacl could not be run at all: why. */
  unavailable?: string
}

/**
 * The key under which a path's ACLs are filed: the path itself when it is
 * valid UTF-8 (so a record's `path` is its key), else NUL and the base64 of
 * its bytes (a record's `pathB64`; NUL cannot occur in a path).
 */
export function aclKey(path: Buffer): string {
  return isUtf8(path) ? path.toString('utf8') : '\0' + path.toString('base64')
}

/** The first `getfacl` on PATH that we may execute, or null. */
export function findGetfacl(env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'getfacl')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return null
}

/**
 * Reads the ACLs of many paths with one process: the paths go NUL-separated
 * to `xargs -0 getfacl --absolute-names --skip-base`, so any byte string
 * (newlines, invalid UTF-8) reaches getfacl intact as an argument, and
 * xargs splits the list if it exceeds the argument limit.
 *
 * `--skip-base` prints only files whose ACL is more than the mode bits; a
 * directory with only a default ACL is printed too (with a base access
 * ACL, which is then not reported). Symlinks must not be passed: getfacl
 * follows them.
 */
export function readAcls(paths: Buffer, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<AclBatch> {
  return new Promise((resolve) => {
    const child = spawn('xargs', ['-0', '-r', 'getfacl', '--absolute-names', '--skip-base', '--'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...env, LC_ALL: 'C' },
      ...(signal ? { signal } : {}),
    })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString('utf8') })
    child.stdin.on('error', () => {}) // reported through the exit status
    let failed: Error | undefined
    child.on('error', (e) => { failed = e })
    child.on('close', (status) => {
      const lines = err.split('\n').filter((l) => l !== '')
      if (failed || status === 126 || status === 127) {
        const why = failed ? `${(failed as NodeJS.ErrnoException).code ?? failed.message}` : lines.join('; ') || `exit status ${status}`
        resolve({ acls: new Map(), problems: [], unavailable: why })
        return
      }
      // xargs exits 123 when getfacl complained about some file; the rest is good.
      const problems = lines.map((l) => l.replace(/^xargs: /, ''))
      if (status !== 0 && status !== 123) problems.push(`getfacl ended with status ${status}`)
      resolve({ acls: parseGetfacl(Buffer.concat(out)), problems })
    })
    child.stdin.end(paths)
  })
}

/**
 * Parses getfacl output: blocks of `# file: NAME`, comment lines, and ACL
 * entries (`default:` ones form the default ACL), separated by blank lines.
 * NAME is as getfacl escapes it: `\\` for a backslash, `\ooo` (octal) for a
 * newline, carriage return and the like; other bytes are raw.
 */
export function parseGetfacl(output: Buffer): Map<string, AclText> {
  const acls = new Map<string, AclText>()
  let name: Buffer | null = null
  let access: string[] = []
  let defaults: string[] = []
  const flush = () => {
    if (name !== null) {
      const text: AclText = {}
      if (access.some(isExtendedEntry)) text.acl = access.join(',')
      if (defaults.length > 0) text.defaultAcl = defaults.join(',')
      if (text.acl !== undefined || text.defaultAcl !== undefined) acls.set(aclKey(name), text)
    }
    name = null
    access = []
    defaults = []
  }
  let start = 0
  while (start < output.length) {
    let end = output.indexOf(0x0a, start)
    if (end < 0) end = output.length
    const line = output.subarray(start, end)
    start = end + 1
    if (line.length === 0) {
      flush()
    } else if (line[0] === 0x23 /* # */) {
      if (line.subarray(0, FILE_PREFIX.length).equals(FILE_PREFIX)) {
        flush()
        name = unescapeName(line.subarray(FILE_PREFIX.length))
      }
    } else {
      // `user:x:rwx\t#effective:r--`: the comment is getfacl's, not the ACL's.
      const entry = line.toString('utf8').split('\t#')[0]!.trim()
      if (entry.startsWith('default:')) defaults.push(entry.slice('default:'.length))
      else access.push(entry)
    }
  }
  flush()
  return acls
}

const FILE_PREFIX = Buffer.from('# file: ')

/** An entry beyond the three of the mode bits: a mask or a named user or group. */
function isExtendedEntry(entry: string): boolean {
  return entry.startsWith('mask:') || /^(user|group):[^:]/.test(entry)
}

/** Undoes getfacl's quoting of a file name. */
export function unescapeName(quoted: Buffer): Buffer {
  if (!quoted.includes(0x5c)) return quoted
  const out = Buffer.allocUnsafe(quoted.length)
  let n = 0
  for (let i = 0; i < quoted.length; i++) {
    const c = quoted[i]!
    if (c === 0x5c && quoted[i + 1] === 0x5c) {
      out[n++] = 0x5c
      i++
    } else if (c === 0x5c && isOctal(quoted[i + 1]) && isOctal(quoted[i + 2]) && isOctal(quoted[i + 3])) {
      out[n++] = ((quoted[i + 1]! - 0x30) << 6) | ((quoted[i + 2]! - 0x30) << 3) | (quoted[i + 3]! - 0x30)
      i += 3
    } else {
      out[n++] = c
    }
  }
  return out.subarray(0, n)
}

function isOctal(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x37
}
