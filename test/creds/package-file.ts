import t from 'tap'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { openCredentialsPackage, readPackageFile, writePackageFile } from '../../src/creds/package-file.js'
import { sealPackage } from '../../src/creds/package-crypto.js'

const CHEAP = { log2N: 4, r: 1, p: 1 }
const PAYLOAD = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', region: 'us-east-1', createdAt: '2026-11-26T08:00:00.000Z' }

t.test('a package file is written with mode 0600 whatever the umask', async (t) => {
  const dir = t.testdir()
  const bytes = await sealPackage(PAYLOAD, Buffer.from('password1'), { kdf: CHEAP })
  for (const mask of [0o022, 0o000, 0o277, 0o777]) {
    const old = process.umask(mask)
    try {
      const file = join(dir, `umask-${mask.toString(8)}.pkg`)
      writePackageFile(file, bytes)
      t.equal(statSync(file).mode & 0o7777, 0o600, `umask ${mask.toString(8).padStart(3, '0')}: mode 0600`)
      t.same(readFileSync(file), bytes, 'content as given')
    } finally {
      process.umask(old)
    }
  }
})

t.test('never overwrites: a file, a directory, a symlink, a dangling symlink', async (t) => {
  const dir = t.testdir({ existing: 'keep me', adir: {} })
  symlinkSync(join(dir, 'existing'), join(dir, 'link'))
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'))
  const bytes = await sealPackage(PAYLOAD, Buffer.from('password1'), { kdf: CHEAP })
  for (const name of ['existing', 'adir', 'link', 'dangling']) {
    const file = join(dir, name)
    t.throws(() => writePackageFile(file, bytes), { name: 'Error', exitStatus: 2, message: `${file}: already exists; refusing to overwrite it` }, name)
  }
  t.equal(readFileSync(join(dir, 'existing'), 'utf8'), 'keep me', 'the file is untouched')
  t.notOk(existsSync(join(dir, 'nowhere')), 'nothing created through the dangling link')
})

t.test('a missing directory is a usage error', async (t) => {
  const dir = t.testdir()
  t.throws(() => writePackageFile(join(dir, 'absent', 'p.pkg'), Buffer.from('x')), { exitStatus: 2, message: /absent\/p\.pkg: no such directory/ })
  t.same(readdirSync(dir), [])
})

t.test('reading: missing file, a directory, a file too large to be a package', async (t) => {
  const dir = t.testdir({ big: Buffer.alloc(70_000, 1), sub: {} })
  t.throws(() => readPackageFile(join(dir, 'none.pkg')), { exitStatus: 2, message: `${join(dir, 'none.pkg')}: no such file` })
  t.throws(() => readPackageFile(join(dir, 'sub')), { exitStatus: 2, message: /sub: is a directory, not a credentials package/ })
  t.throws(() => readPackageFile(join(dir, 'big')), { name: 'MalformedPackageError', message: /big: malformed credentials package: larger than the 65620 bytes/ })
})

t.test('openCredentialsPackage: password from a file descriptor, in memory only', async (t) => {
  const dir = t.testdir({ 'pw.txt': 'password1\nthe rest is ignored\n' })
  const file = join(dir, 'c.pkg')
  writePackageFile(file, await sealPackage(PAYLOAD, Buffer.from('password1'), { kdf: CHEAP }))
  const before = readdirSync(dir).sort()
  const fd = openSync(join(dir, 'pw.txt'), 'r')
  try {
    t.same(await openCredentialsPackage(file, { fd }), PAYLOAD)
  } finally {
    closeSync(fd)
  }
  t.same(readdirSync(dir).sort(), before, 'no file created next to the package')
  t.same(await openCredentialsPackage(file, { buffer: Buffer.from('password1') }), PAYLOAD, 'or from a buffer')
  await t.rejects(openCredentialsPackage(file, { buffer: Buffer.from('password2') }), { name: 'WrongPasswordOrAlteredError', exitStatus: 2 })
})

t.test('a malformed package is reported before any password is asked for', async (t) => {
  const dir = t.testdir({ 'short.pkg': 'S3SBCRED\x01\x01', 'other.pkg': 'hello' })
  // fd 987 is not open: reading a password from it would fail differently.
  await t.rejects(openCredentialsPackage(join(dir, 'short.pkg'), { fd: 987 }), { name: 'MalformedPackageError', message: /short\.pkg: truncated credentials package/ })
  await t.rejects(openCredentialsPackage(join(dir, 'other.pkg'), { terminal: '/nonexistent/tty' }), { name: 'MalformedPackageError', message: /other\.pkg: malformed/ })
  await t.rejects(openCredentialsPackage(join(dir, 'none.pkg'), { fd: 987 }), { exitStatus: 2, message: /none\.pkg: no such file/ })
})
