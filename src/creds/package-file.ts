import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { FatalError, UsageError } from '../cli/errors.js'
import { MalformedPackageError } from './errors.js'
import { openPackage } from './package-crypto.js'
import { MAX_PACKAGE_BYTES, parsePackage } from './package-format.js'
import { readPassword, type PasswordSource } from './password-input.js'
import type { CredentialsPayload } from './payload.js'

/** The mode every package file has. */
export const PACKAGE_FILE_MODE = 0o600

/**
 * Writes package bytes to a new file `path` with mode 0600 exactly.
 *
 * - Never overwrites: the file is created with O_CREAT|O_EXCL (`wx`), so an
 *   existing file, directory or symlink (even a dangling one) at `path` is
 *   refused with a UsageError, also when it appears between a check and the
 *   write.
 * - The mode is set with fchmod after creation, whatever the umask, and
 *   read back; a file system that does not keep it (FAT, some network
 *   mounts) is refused and the file removed.
 * - The data is fsynced before returning; on any failure the partial file
 *   is removed. Other failures are FatalError.
 */
export function writePackageFile(path: string, bytes: Uint8Array): void {
  let fd: number
  try {
    fd = openSync(path, 'wx', PACKAGE_FILE_MODE)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new UsageError(`${path}: already exists; refusing to overwrite it`)
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`${path}: no such directory: ${dirname(path)}`)
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new UsageError(`${path}: cannot create: ${code}`)
    throw new FatalError(`${path}: cannot create: ${code ?? (err as Error).message}`)
  }
  try {
    try {
      fchmodSync(fd, PACKAGE_FILE_MODE)
    } catch {
      // Checked just below: a file system that refuses chmod also fails the mode check.
    }
    const mode = fstatSync(fd).mode & 0o7777
    if (mode !== PACKAGE_FILE_MODE) {
      throw new UsageError(`${path}: the file system does not keep mode 0600 (the file got ${mode.toString(8).padStart(4, '0')}); write the package on another file system, then copy it`)
    }
    let offset = 0
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
    fsyncSync(fd)
    closeSync(fd)
  } catch (err) {
    try { closeSync(fd) } catch { /* already closed */ }
    try { unlinkSync(path) } catch { /* nothing to remove */ }
    if (err instanceof UsageError) throw err
    throw new FatalError(`${path}: cannot write: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  syncDirectory(dirname(path))
}

/** Makes the new directory entry durable; best effort (some file systems refuse fsync on directories). */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
  } catch {
    // not fatal: the data itself was fsynced
  }
}

/**
 * Reads a package file (at most MAX_PACKAGE_BYTES). Throws UsageError when
 * it cannot be read, MalformedPackageError when it is too large to be one.
 */
export function readPackageFile(path: string): Buffer {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new UsageError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot open: ${code ?? (err as Error).message}`}`)
  }
  try {
    const st = fstatSync(fd)
    if (st.isDirectory()) throw new UsageError(`${path}: is a directory, not a credentials package`)
    const buf = Buffer.alloc(MAX_PACKAGE_BYTES + 1)
    let length = 0
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null)
      if (n === 0) break
      length += n
      if (length > MAX_PACKAGE_BYTES) throw new MalformedPackageError(path, `larger than the ${MAX_PACKAGE_BYTES} bytes a package can be`)
    }
    return buf.subarray(0, length)
  } catch (err) {
    if (err instanceof UsageError || err instanceof MalformedPackageError) throw err
    throw new UsageError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  } finally {
    closeSync(fd)
  }
}

/**
 * Opens a credentials package: reads `file`, checks its structure (before
 * asking for anything), reads the password from `password`, derives the
 * key and decrypts, in memory only. The password bytes are zeroed once the
 * key is derived. Nothing is written anywhere.
 *
 * Errors (all UserError subclasses, one line naming `file`; exit status 2
 * unless noted):
 * - MalformedPackageError: truncated, not a package, unknown version, KDF
 *   or cipher, parameters beyond this version's limits;
 * - WrongPasswordOrAlteredError: the authentication tag does not match —
 *   the password is wrong or some byte of the file changed;
 * - UsageError: no such file, no terminal to ask on, empty password;
 * - InterruptedError (terminal.ts): Ctrl-C at the prompt, exit status 130.
 *
 * The returned payload holds the secret key as a JavaScript string, which
 * cannot be wiped: keep it in memory only, pass it to
 * restoreCredentialProvider(), never to a child process.
 */
export async function openCredentialsPackage(file: string, password: PasswordSource): Promise<CredentialsPayload> {
  const bytes = readPackageFile(file)
  parsePackage(bytes, file)
  const secret = await readPassword(password, { prompt: `Password for ${basename(file)}: ` })
  try {
    return await openPackage(bytes, secret, file)
  } finally {
    secret.fill(0)
  }
}
