import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstat, readdir, readFile, readlink } from 'node:fs/promises'
import { kindOf } from '../../src/restore/on-disk.js'
import { aclKey, readAcls } from '../../src/stages/pick/acl-reader.js'

/** A relative path as bytes, shown readably in differences. */
function show(rel: Buffer): string {
  return JSON.stringify(rel.toString('latin1'))
}

function join(root: Buffer, rel: Buffer): Buffer {
  return rel.length === 0 ? root : Buffer.concat([root, Buffer.from('/'), rel])
}

/** Every path under `root` (relative, as bytes; the root itself as an empty buffer), parents before children. */
async function walk(root: Buffer): Promise<Buffer[]> {
  const out: Buffer[] = [Buffer.alloc(0)]
  for (let i = 0; i < out.length; i++) {
    const rel = out[i]!
    const st = await lstat(join(root, rel))
    if (!st.isDirectory()) continue
    const names = (await readdir(join(root, rel), { encoding: 'buffer' })).sort(Buffer.compare)
    for (const name of names) out.push(rel.length === 0 ? name : Buffer.concat([rel, Buffer.from('/'), name]))
  }
  return out
}

async function sha256(path: Buffer): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

/**
 * Compares two trees entry by entry and returns every difference (empty:
 * identical): the set of names, and for each entry its type, mode
 * (setuid, setgid and sticky included), owner, group, modification time
 * to the nanosecond, size and SHA-256 of files, symlink targets, device
 * numbers, link counts, POSIX access and default ACLs (getfacl), extended
 * attributes, and the
 * hard-link structure (which names share an inode).
 */
export async function compareTrees(expectedRoot: string, actualRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const eRoot = Buffer.from(expectedRoot)
  const aRoot = Buffer.from(actualRoot)
  const differences: string[] = []
  const expected = await walk(eRoot)
  const actual = await walk(aRoot)
  const actualSet = new Set(actual.map((p) => p.toString('latin1')))
  const expectedSet = new Set(expected.map((p) => p.toString('latin1')))
  for (const rel of actual) if (!expectedSet.has(rel.toString('latin1'))) differences.push(`${show(rel)}: not expected, but restored`)

  const eInodes = new Map<bigint, string>()
  const aInodes = new Map<bigint, string>()
  const common: Buffer[] = []
  for (const rel of expected) {
    if (!actualSet.has(rel.toString('latin1'))) {
      differences.push(`${show(rel)}: missing`)
      continue
    }
    common.push(rel)
    const e = await lstat(join(eRoot, rel), { bigint: true })
    const a = await lstat(join(aRoot, rel), { bigint: true })
    const field = (name: string, x: unknown, y: unknown) => {
      if (x !== y) differences.push(`${show(rel)}: ${name} expected ${String(x)}, got ${String(y)}`)
    }
    field('type', kindOf(e), kindOf(a))
    if (kindOf(e) !== kindOf(a)) continue
    if (!e.isSymbolicLink()) field('mode', (e.mode & 0o7777n).toString(8), (a.mode & 0o7777n).toString(8))
    field('uid', e.uid, a.uid)
    field('gid', e.gid, a.gid)
    // The restore target's own root is compared as well: its metadata comes from the manifest too.
    field('mtimeNs', e.mtimeNs, a.mtimeNs)
    if (e.isFile()) {
      field('size', e.size, a.size)
      field('nlink', e.nlink, a.nlink)
      field('sha256', await sha256(join(eRoot, rel)), await sha256(join(aRoot, rel)))
      if (e.nlink > 1n) {
        // Hard-link structure: the first name seen for an inode stands for its group.
        const eGroup = eInodes.get(e.ino) ?? (eInodes.set(e.ino, rel.toString('latin1')), rel.toString('latin1'))
        const aGroup = aInodes.get(a.ino) ?? (aInodes.set(a.ino, rel.toString('latin1')), rel.toString('latin1'))
        field('hard-link group', eGroup, aGroup)
      }
    }
    if (e.isSymbolicLink()) {
      field('target', (await readlink(join(eRoot, rel), { encoding: 'buffer' })).toString('latin1'), (await readlink(join(aRoot, rel), { encoding: 'buffer' })).toString('latin1'))
    }
    if (e.isCharacterDevice() || e.isBlockDevice()) field('rdev', e.rdev, a.rdev)
  }

  // ACLs, through the same getfacl reader sysbackup-pick uses (symlinks excluded: getfacl follows them).
  const aclable = []
  for (const rel of common) if (!(await lstat(join(eRoot, rel))).isSymbolicLink()) aclable.push(rel)
  const nul = Buffer.from([0])
  const eAcls = await readAcls(Buffer.concat(aclable.flatMap((rel) => [join(eRoot, rel), nul])), env)
  const aAcls = await readAcls(Buffer.concat(aclable.flatMap((rel) => [join(aRoot, rel), nul])), env)
  if (eAcls.unavailable || aAcls.unavailable) differences.push(`getfacl unavailable: ${eAcls.unavailable ?? aAcls.unavailable}`)
  for (const rel of aclable) {
    const e = eAcls.acls.get(aclKey(join(eRoot, rel)))
    const a = aAcls.acls.get(aclKey(join(aRoot, rel)))
    if (e?.acl !== a?.acl) differences.push(`${show(rel)}: acl expected ${e?.acl}, got ${a?.acl}`)
    if (e?.defaultAcl !== a?.defaultAcl) differences.push(`${show(rel)}: default acl expected ${e?.defaultAcl}, got ${a?.defaultAcl}`)
  }

  // Extended attributes, read by a python3 of its own (not the reader sysbackup-pick uses).
  const eXattrs = readXattrs(common.map((rel) => join(eRoot, rel)))
  const aXattrs = readXattrs(common.map((rel) => join(aRoot, rel)))
  common.forEach((rel, i) => {
    if (eXattrs[i] !== aXattrs[i]) differences.push(`${show(rel)}: extended attributes expected ${eXattrs[i]}, got ${aXattrs[i]}`)
  })
  return differences
}

/** Each path's extended attributes other than POSIX ACLs, as `name=hex` sorted and joined by spaces (a link's own). */
export function readXattrs(paths: Buffer[]): string[] {
  const out = execFileSync('python3', ['-c', `
import os, sys
for path in sys.stdin.buffer.read().split(b'\\0')[:-1]:
    names = sorted(n for n in os.listxattr(path, follow_symlinks=False) if not n.startswith('system.posix_acl_'))
    print(' '.join(n + '=' + os.getxattr(path, n, follow_symlinks=False).hex() for n in names))
`], { input: Buffer.concat(paths.flatMap((p) => [p, Buffer.from([0])])), maxBuffer: 64 * 1024 * 1024 })
  return out.toString('utf8').split('\n').slice(0, paths.length)
}
