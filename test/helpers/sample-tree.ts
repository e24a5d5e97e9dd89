import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, linkSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { textOf } from './files.js'

/** `dir/name` as bytes (names that are not UTF-8 cannot be strings). */
export function under(dir: string, name: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(dir + '/'), typeof name === 'string' ? Buffer.from(name) : name])
}

/** An id with no name on this machine, for owners that must be restored by number. */
export const UNNAMED_UID = 23456
export const UNNAMED_GID = 34567
/** nobody / nogroup. */
export const NOBODY = 65534

/** A name that is not valid UTF-8. */
export const LATIN1_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff, 0x2e, 0x74, 0x78, 0x74])

/**
 * Builds, under `root`, a tree with every kind of entry a restore must get
 * exactly right: regular, empty and large files (compressible and not),
 * setuid, setgid and sticky modes, files owned by another user and group
 * and by ids without names, POSIX access ACLs and a directory with a
 * default ACL, extended attributes (user ones, a file capability, trusted
 * ones on a symlink and a FIFO), hard links across directories, symlinks (relative, absolute,
 * dangling), a FIFO, a socket and a character device, names with spaces,
 * newlines and invalid UTF-8, and distinct modification times with odd
 * nanoseconds on everything (directories last, as writing changes them).
 * Needs root (chown, mknod). `largeBytes` sizes the two large files.
 */
export function makeSampleTree(root: string, largeBytes = 3 * 1024 * 1024): void {
  const dirs = ['etc', 'bin', 'shared', 'tmp', 'links', 'links/a', 'links/b', 'names', 'big', 'sym', 'dev', 'private', 'empty-dir']
  mkdirSync(root, { recursive: true })
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true })
  writeFileSync(join(root, 'etc/plain.conf'), textOf(5000))
  writeFileSync(join(root, 'etc/empty'), '')
  writeFileSync(join(root, 'etc/secret'), 'the secret\n', { mode: 0o600 })
  chownSync(join(root, 'etc/secret'), NOBODY, NOBODY)
  writeFileSync(join(root, 'etc/odd-owner'), textOf(300))
  chownSync(join(root, 'etc/odd-owner'), UNNAMED_UID, UNNAMED_GID)
  chmodSync(join(root, 'etc/odd-owner'), 0o640)
  writeFileSync(join(root, 'etc/acl-file'), textOf(700))
  chmodSync(join(root, 'etc/acl-file'), 0o640)
  execFileSync('setfacl', ['-m', 'u:nobody:r--,g:nogroup:rw-', join(root, 'etc/acl-file')])
  writeFileSync(join(root, 'bin/setuid-tool'), '#!/bin/sh\necho hi\n')
  chmodSync(join(root, 'bin/setuid-tool'), 0o4755)
  writeFileSync(join(root, 'bin/setgid-tool'), '#!/bin/sh\necho hi\n')
  chownSync(join(root, 'bin/setgid-tool'), 0, NOBODY)
  chmodSync(join(root, 'bin/setgid-tool'), 0o2755)
  chownSync(join(root, 'shared'), 0, NOBODY)
  chmodSync(join(root, 'shared'), 0o2775)
  execFileSync('setfacl', ['-d', '-m', 'u:nobody:rwx,g:nogroup:r-x', join(root, 'shared')])
  writeFileSync(join(root, 'shared/inherited'), textOf(400)) // inherits the default ACL
  chmodSync(join(root, 'tmp'), 0o1777)
  chmodSync(join(root, 'private'), 0o700)
  chmodSync(join(root, 'empty-dir'), 0o711)
  writeFileSync(join(root, 'links/a/h1'), textOf(2000))
  linkSync(join(root, 'links/a/h1'), join(root, 'links/b/h2'))
  linkSync(join(root, 'links/a/h1'), join(root, 'links/h3'))
  writeFileSync(under(join(root, 'names'), 'with space'), 'space\n')
  writeFileSync(under(join(root, 'names'), 'new\nline'), 'newline\n')
  writeFileSync(under(join(root, 'names'), LATIN1_NAME), 'latin1\n')
  writeFileSync(under(join(root, 'names'), 'ünïcødé ✓'), 'unicode\n')
  writeFileSync(join(root, 'big/random.bin'), randomBytes(largeBytes))
  writeFileSync(join(root, 'big/text.log'), textOf(largeBytes))
  symlinkSync('../etc/plain.conf', join(root, 'sym/relative'))
  symlinkSync('/etc/passwd', join(root, 'sym/absolute'))
  symlinkSync('nowhere/at/all', join(root, 'sym/dangling'))
  lchownSync(join(root, 'sym/relative'), NOBODY, NOBODY)
  // Python: Node has neither mknod nor nanosecond utimes.
  execFileSync('python3', ['-c', `
import os, sys
root = sys.argv[1].encode()
os.mknod(root + b'/dev/fifo', 0o620 | 0o010000)
os.mknod(root + b'/dev/socket', 0o755 | 0o140000)
os.mknod(root + b'/dev/null-ish', 0o666 | 0o020000, os.makedev(1, 3))
os.chmod(root + b'/dev/fifo', 0o620)
os.chmod(root + b'/dev/null-ish', 0o666)
os.chown(root + b'/dev/fifo', ${NOBODY}, 0)
# Extended attributes: user ones on a file (one value binary, one empty) and
# a directory, a file capability on a file of another owner (set after its
# chown, which clears one), trusted ones on a symlink and a FIFO.
os.setxattr(root + b'/etc/plain.conf', 'user.comment', b'plain text')
os.setxattr(root + b'/etc/plain.conf', 'user.binary', bytes(range(256)))
os.setxattr(root + b'/etc/plain.conf', 'user.empty', b'')
os.setxattr(root + b'/shared', 'user.project', b'shared space')
os.setxattr(root + b'/etc/secret', 'security.capability', bytes.fromhex('0100000200200000000000000000000000000000'))
os.setxattr(root + b'/sym/relative', 'trusted.note', b'a link', follow_symlinks=False)
os.setxattr(root + b'/dev/fifo', 'trusted.note', b'a fifo', follow_symlinks=False)
paths = []
for d, subdirs, files in os.walk(root, topdown=False):
    for n in files + [s for s in subdirs if os.path.islink(os.path.join(d, s))]:
        paths.append(os.path.join(d, n))
    paths.append(d)
# Files, links and specials first, then directories deepest first: their own times change as entries are made.
for i, p in enumerate(paths):
    ns = 1_600_000_000_123_456_789 + i * 86_400_987_654_321
    os.utime(p, ns=(ns, ns), follow_symlinks=False)
`, root])
}
