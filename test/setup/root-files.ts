import t from 'tap'
import { lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT_OWNER, RootFiles, writeNewFile } from '../../src/setup/root-files.js'

const backup = { uid: 34, gid: 34, label: 'backup:backup' }

t.test('writes files and directories under the root with their modes and owners', async (t) => {
  const root = t.testdir({})
  const files = new RootFiles(root)
  files.dir('/etc/app', 0o750, backup)
  const secret = files.file('/etc/app/secret', 0o600, backup)
  files.file('/usr/share/app/readme', 0o644, ROOT_OWNER, 'hello\n')
  files.check(false)
  secret.content = 'key\n'
  const lines = files.entries.map((e) => files.apply(e, false))
  t.same(lines, [
    `dir  ${root}/etc/app 0750 backup:backup`,
    `file ${root}/etc/app/secret 0600 backup:backup`,
    `file ${root}/usr/share/app/readme 0644 root:root`,
  ])
  const st = lstatSync(join(root, 'etc/app/secret'))
  t.equal(st.mode & 0o7777, 0o600)
  t.same([st.uid, st.gid], [34, 34])
  t.equal(readFileSync(join(root, 'etc/app/secret'), 'utf8'), 'key\n')
  t.equal(lstatSync(join(root, 'etc/app')).mode & 0o7777, 0o750)
  t.equal(lstatSync(join(root, 'usr/share')).mode & 0o7777, 0o755, 'missing parents are made 0755')
})

t.test('check() names every existing file and writes nothing; force replaces atomically', async (t) => {
  const root = t.testdir({ etc: { a: 'old a', b: 'old b' } })
  const files = new RootFiles(root)
  files.file('/etc/a', 0o644, ROOT_OWNER, 'new a')
  files.file('/etc/b', 0o644, ROOT_OWNER, 'new b')
  files.file('/etc/c', 0o644, ROOT_OWNER, 'new c')
  t.throws(() => files.check(false), { message: `${root}/etc/a, ${root}/etc/b exist already; nothing written (--force replaces)` })
  t.same(readdirSync(join(root, 'etc')).sort(), ['a', 'b'])
  files.check(true)
  for (const e of files.entries) files.apply(e, true)
  t.equal(readFileSync(join(root, 'etc/a'), 'utf8'), 'new a')
  t.same(readdirSync(join(root, 'etc')).sort(), ['a', 'b', 'c'], 'no temporary files left')
})

t.test('a directory where a file goes, or a file where a directory goes, is refused', async (t) => {
  const root = t.testdir({ etc: { conf: {}, 'state': 'a file' } })
  const files = new RootFiles(root)
  files.file('/etc/conf', 0o644, ROOT_OWNER, 'x')
  t.throws(() => files.check(true), { message: `${root}/etc/conf exists and is a directory` })
  const dirs = new RootFiles(root)
  dirs.dir('/etc/state', 0o700, ROOT_OWNER)
  t.throws(() => dirs.check(false), { message: `${root}/etc/state exists and is not a directory` })
})

t.test('a symbolic link leading out of the root is not followed', async (t) => {
  const outside = t.testdir({})
  const root = join(outside, 'root')
  mkdirSync(root)
  mkdirSync(join(outside, 'elsewhere'))
  symlinkSync(join(outside, 'elsewhere'), join(root, 'etc'))
  const files = new RootFiles(root)
  const entry = files.file('/etc/conf', 0o644, ROOT_OWNER, 'x')
  t.throws(() => files.apply(entry, false), { message: `${root}/etc leads outside ${root} (a symbolic link?); refusing to write there` })
  t.same(readdirSync(join(outside, 'elsewhere')), [], 'nothing written outside')
  t.throws(() => files.hostPath('relative/path'), { message: 'relative/path: must be an absolute path' })
})

t.test('writeNewFile never replaces without being asked, and sets the mode before writing', async (t) => {
  const dir = t.testdir({ existing: 'keep' })
  t.throws(() => writeNewFile(join(dir, 'existing'), 'x', 0o600, null, false), { code: 'EEXIST' })
  t.equal(readFileSync(join(dir, 'existing'), 'utf8'), 'keep')
  writeNewFile(join(dir, 'fresh'), 'secret', 0o600, null, false)
  t.equal(lstatSync(join(dir, 'fresh')).mode & 0o7777, 0o600)
  writeFileSync(join(dir, 'open'), 'was world-readable')
  writeNewFile(join(dir, 'open'), 'now private', 0o600, null, true)
  t.equal(lstatSync(join(dir, 'open')).mode & 0o7777, 0o600, 'a replaced file gets the new mode')
  t.equal(readFileSync(join(dir, 'open'), 'utf8'), 'now private')
})
