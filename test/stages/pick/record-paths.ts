import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { StageContext } from '../../../src/cli/stage.js'
import { decodePath, decodePathField, pathBytes } from '../../../src/protocol/path-codec.js'
import type { Rec } from '../../../src/protocol/records.js'
import { OwnerNames } from '../../../src/stages/pick/owner-names.js'
import { MAX_SYMLINKS, PathRecorder } from '../../../src/stages/pick/record-paths.js'
import { testIO } from '../../helpers/io.js'

/** A recorder over the real filesystem, with its context and captured stderr. */
function setup() {
  const io = testIO()
  const ctx = new StageContext('sysbackup-pick', io, new AbortController())
  const recorder = new PathRecorder(ctx, new OwnerNames({ passwd: '/etc/passwd', group: '/etc/group', env: process.env }))
  return {
    ctx,
    io,
    /** The records for one picked path. */
    add(path: string | Buffer, base = '/'): Rec[] {
      const out: Rec[] = []
      recorder.add(Buffer.isBuffer(path) ? path : Buffer.from(path), Buffer.from(base), out)
      return out
    },
  }
}

const pathOf = (rec: Rec) => pathBytes(decodePath(rec)).toString('latin1')
const paths = (recs: Rec[]) => recs.filter((r) => r.type !== 'warning' && r.type !== 'error').map(pathOf)
const typesAndPaths = (recs: Rec[]) => recs.map((r) => `${r.type} ${r.type === 'warning' || r.type === 'error' ? String(r.message) : pathOf(r)}`)

/** Every ancestor of `path`, `/` excluded, outermost first. */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean)
  return parts.slice(0, -1).map((_, i) => '/' + parts.slice(0, i + 1).join('/'))
}

t.test('a file: its ancestors first (not /), then its record with every field from lstat', async (t) => {
  const dir = t.testdir({ a: { b: { 'f.txt': 'hello' } } })
  const file = join(dir, 'a/b/f.txt')
  const { add, ctx } = setup()
  const out = add(file)
  t.same(paths(out), [...ancestors(file), file])
  t.ok(out.slice(0, -1).every((r) => r.type === 'dir'))
  const st = lstatSync(file, { bigint: true })
  t.same(out.at(-1), {
    type: 'file', path: file, mode: '0644', uid: 0, gid: 0, user: 'root', group: 'root', size: 5,
    mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), storageId: `${st.dev}:${st.ino}`, nlink: 1,
  })
  const dirSt = lstatSync(join(dir, 'a'), { bigint: true })
  t.match(out.find((r) => r.path === join(dir, 'a')), { type: 'dir', mode: '0755', storageId: `${dirSt.dev}:${dirSt.ino}`, nlink: 3 })

  writeFileSync(join(dir, 'a/b/g'), '')
  t.same(paths(add(join(dir, 'a/b/g'))), [join(dir, 'a/b/g')], 'ancestors are recorded once per run')
  t.same(add(file), [], 'an entry is recorded once per run')
  t.match(ctx.counts, { paths: 3, entries: out.length + 1, files: 2, dirs: out.length - 1 })
})

t.test('a directory that is named gets its own record only', async (t) => {
  const dir = t.testdir({ d: { inside: 'x', sub: { deeper: 'y' } } })
  const { add } = setup()
  const out = add(join(dir, 'd'))
  t.same(paths(out), [...ancestors(join(dir, 'd')), join(dir, 'd')])
  t.equal(out.at(-1)!.type, 'dir')
  t.same(add(join(dir, 'd/inside')).map(pathOf), [join(dir, 'd/inside')], 'its ancestors are not recorded again')
})

t.test('modes: empty file, setuid, setgid, sticky', async (t) => {
  const dir = t.testdir({ empty: '', suid: '#!/bin/sh\n', sticky: {}, sgid: {} })
  chmodSync(join(dir, 'suid'), 0o4755)
  chmodSync(join(dir, 'sticky'), 0o1777)
  chmodSync(join(dir, 'sgid'), 0o2775)
  const { add } = setup()
  add(dir)
  t.match(add(join(dir, 'empty'))[0], { type: 'file', size: 0, mode: '0644' })
  t.match(add(join(dir, 'suid'))[0], { type: 'file', mode: '4755' })
  t.match(add(join(dir, 'sticky'))[0], { type: 'dir', mode: '1777' })
  t.match(add(join(dir, 'sgid'))[0], { type: 'dir', mode: '2775' })
})

t.test('hard links share a storageId', async (t) => {
  const dir = t.testdir({ one: 'same content' })
  linkSync(join(dir, 'one'), join(dir, 'two'))
  const { add } = setup()
  add(dir)
  const [one] = add(join(dir, 'one'))
  const [two] = add(join(dir, 'two'))
  t.equal(one!.storageId, two!.storageId)
  t.equal(one!.nlink, 2)
  t.not(one!.path, two!.path)
})

t.test('owners: names where known, numbers only for an id with no name', async (t) => {
  const dir = t.testdir({ nobody: '', orphan: '' })
  chownSync(join(dir, 'nobody'), 65534, 65534)
  chownSync(join(dir, 'orphan'), 54321, 54322)
  const { add } = setup()
  add(dir)
  const [nobody] = add(join(dir, 'nobody'))
  t.match(nobody, { uid: 65534, gid: 65534, user: 'nobody', group: 'nogroup' })
  const [orphan] = add(join(dir, 'orphan'))
  t.match(orphan, { uid: 54321, gid: 54322 })
  t.notOk('user' in orphan! || 'group' in orphan!, 'no name fields for ids without a name')
})

t.test('names with spaces, newlines and invalid UTF-8 round-trip byte for byte', async (t) => {
  const dir = t.testdir({})
  const names = [Buffer.from('with space'), Buffer.from('new\nline'), Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe]), Buffer.from('ünïcødé')]
  const { add } = setup()
  add(dir)
  for (const name of names) {
    const full = Buffer.concat([Buffer.from(dir + '/'), name])
    writeFileSync(full, 'x')
    const [rec] = add(full)
    t.ok(pathBytes(decodePath(rec!)).equals(full), `round trip of ${JSON.stringify(name.toString('latin1'))}`)
    t.equal('pathB64' in rec!, name[3] === 0xff, 'pathB64 only for invalid UTF-8')
    t.equal(lstatSync(decodePath(rec!)).ino, lstatSync(full).ino, 'the decoded path reaches the same file')
  }
})

t.test('FIFOs, sockets and devices are special records, never opened', async (t) => {
  const dir = t.testdir({})
  execFileSync('mkfifo', [join(dir, 'fifo')])
  execFileSync('python3', ['-c', 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'], { cwd: dir })
  const { add } = setup()
  add(dir)
  t.match(add(join(dir, 'fifo')), [{ type: 'special', kind: 'fifo', mode: '0644' }])
  t.match(add(join(dir, 'sock')), [{ type: 'special', kind: 'socket' }])
  const [devnull] = add('/dev/null').slice(-1)
  t.match(devnull, { type: 'special', kind: 'char', rdev: Number(lstatSync('/dev/null').rdev), mode: '0666' })
  t.notOk('size' in devnull!)
  execFileSync('mknod', [join(dir, 'blk'), 'b', '7', '0'])
  t.match(add(join(dir, 'blk')), [{ type: 'special', kind: 'block', rdev: Number(lstatSync(join(dir, 'blk')).rdev) }])
})

t.test('symlink chains are recorded and followed to the final target', async (t) => {
  const dir = t.testdir({ d: { target: 'data', sub: { file: 'in sub' } }, chain: {} })
  const d = join(dir, 'd')
  symlinkSync('l2', join(dir, 'chain/l1'))
  symlinkSync('../d/target', join(dir, 'chain/l2'))
  symlinkSync(join(d, 'target'), join(dir, 'chain/abs'))
  symlinkSync('../d/sub', join(dir, 'chain/todir'))
  const { add, ctx } = setup()
  add(join(dir, 'chain'))

  const rel = add(join(dir, 'chain/l1'))
  t.same(typesAndPaths(rel), [
    `symlink ${join(dir, 'chain/l1')}`, `symlink ${join(dir, 'chain/l2')}`, `dir ${d}`, `file ${join(d, 'target')}`,
  ], 'relative chain: each link, the target directory, the target')
  t.equal(rel[0]!.target, 'l2')
  t.equal(rel[1]!.target, '../d/target')

  const abs = add(join(dir, 'chain/abs'))
  t.same(typesAndPaths(abs), [`symlink ${join(dir, 'chain/abs')}`], 'absolute link: its target was already recorded')
  t.equal(abs[0]!.target, join(d, 'target'))

  const todir = add(join(dir, 'chain/todir'))
  t.same(typesAndPaths(todir), [`symlink ${join(dir, 'chain/todir')}`, `dir ${join(d, 'sub')}`], 'link to a directory: the directory, not its contents')
  t.equal(ctx.counts.warnings, 0)
})

t.test('links to /, to . and to a directory named through ..', async (t) => {
  const dir = t.testdir({ p: { q: {} }, r: { s: {} } })
  symlinkSync('/', join(dir, 'p/q/toroot'))
  symlinkSync('.', join(dir, 'p/q/here'))
  symlinkSync('../../r/s/..', join(dir, 'p/q/up'))
  const { add } = setup()
  add(join(dir, 'p/q'))
  t.same(typesAndPaths(add(join(dir, 'p/q/toroot'))), [`symlink ${join(dir, 'p/q/toroot')}`], '/ is not recorded')
  t.same(typesAndPaths(add(join(dir, 'p/q/here'))), [`symlink ${join(dir, 'p/q/here')}`], 'its own directory, already recorded')
  t.same(typesAndPaths(add(join(dir, 'p/q/up'))), [`symlink ${join(dir, 'p/q/up')}`, `dir ${join(dir, 'r')}`], '.. taken after s')
})

t.test('a dangling link: the link, then a warning', async (t) => {
  const dir = t.testdir({})
  symlinkSync('nowhere', join(dir, 'dangling'))
  symlinkSync('gone/deeper', join(dir, 'dangling2'))
  const { add, ctx, io } = setup()
  add(dir)
  const out = add(join(dir, 'dangling'))
  t.match(out, [{ type: 'symlink', target: 'nowhere' }, { type: 'warning', code: 'ENOENT', path: join(dir, 'dangling'), message: /dangling symlink to nowhere/ }])
  t.match(add(join(dir, 'dangling2')), [{ type: 'symlink' }, { type: 'warning', code: 'ENOENT', message: /dangling symlink to gone\/deeper/ }])
  t.equal(ctx.counts.dangling, 2)
  t.equal(ctx.counts.errors, 0)
  t.match(io.err(), `sysbackup-pick: warning: ${join(dir, 'dangling')}: dangling symlink to nowhere`)
})

t.test('loops end with a warning, never a hang', async (t) => {
  const dir = t.testdir({})
  symlinkSync('b', join(dir, 'a'))
  symlinkSync('a', join(dir, 'b'))
  symlinkSync('self', join(dir, 'self'))
  symlinkSync('loopdir/x', join(dir, 'loopdir'))
  const { add, ctx } = setup()
  add(dir)
  t.match(add(join(dir, 'a')), [{ type: 'symlink', path: join(dir, 'a') }, { type: 'symlink', path: join(dir, 'b') }, { type: 'warning', code: 'ELOOP' }])
  t.match(add(join(dir, 'self')), [{ type: 'symlink', target: 'self' }, { type: 'warning', code: 'ELOOP', message: /symlink loop/ }])
  t.match(add(join(dir, 'loopdir')), [{ type: 'symlink' }, { type: 'warning', code: 'ELOOP' }], 'a link through itself as a directory')
  t.match(add(join(dir, 'loopdir/under')), [{ type: 'warning', code: 'ELOOP', path: join(dir, 'loopdir/under') }], 'a path beneath a loop')
  t.equal(ctx.counts.errors, 0)
})

t.test(`chains longer than ${MAX_SYMLINKS} links stop with a warning`, async (t) => {
  const dir = t.testdir({ end: 'the end' })
  const n = MAX_SYMLINKS + 5
  for (let i = 0; i < n; i++) symlinkSync(i === n - 1 ? 'end' : `l${i + 1}`, join(dir, `l${i}`))
  const { add } = setup()
  add(dir)
  const out = add(join(dir, 'l0'))
  t.equal(out.filter((r) => r.type === 'symlink').length, MAX_SYMLINKS + 1, 'the picked link and the 40 it leads through')
  t.match(out.at(-1), { type: 'warning', code: 'ELOOP', message: /too many levels of symbolic links/ })
  t.notOk(out.some((r) => r.type === 'file'))
})

t.test('a symlinked ancestor is recorded, and the entry at its real location', async (t) => {
  const dir = t.testdir({ usr: { lib: { x: 'x', y: 'y', deep: { z: 'z' } } } })
  symlinkSync('usr/lib', join(dir, 'lib'))
  symlinkSync(join(dir, 'lib/deep'), join(dir, 'deeplink'))
  const { add } = setup()
  add(dir)
  t.same(typesAndPaths(add(join(dir, 'lib/x'))), [
    `symlink ${join(dir, 'lib')}`, `dir ${join(dir, 'usr')}`, `dir ${join(dir, 'usr/lib')}`, `file ${join(dir, 'usr/lib/x')}`,
  ])
  t.same(typesAndPaths(add(join(dir, 'lib/y'))), [`file ${join(dir, 'usr/lib/y')}`], 'the ancestor is resolved once')
  t.same(typesAndPaths(add(join(dir, 'usr/lib/x'))), [], 'the same file by its real path is a duplicate')
  t.same(typesAndPaths(add(join(dir, 'deeplink/z'))), [
    `symlink ${join(dir, 'deeplink')}`, `dir ${join(dir, 'usr/lib/deep')}`, `file ${join(dir, 'usr/lib/deep/z')}`,
  ], 'a link through a link: each link once, then the real directories')
})

t.test('dots, doubled slashes, trailing slashes and relative paths', async (t) => {
  const dir = t.testdir({ a: { b: { f: 'f' } } })
  const { add } = setup()
  add(dir)
  t.same(paths(add(`${dir}/a/./b//../b/f`)), [join(dir, 'a'), join(dir, 'a/b'), join(dir, 'a/b/f')])
  t.same(paths(add(`${dir}/a/b/`)), [], 'a trailing slash names the same directory')
  t.same(paths(add(`${dir}/a/b/..`)), [], '.. names the parent (already recorded)')
  writeFileSync(join(dir, 'a/rel'), '')
  t.same(paths(add('rel', join(dir, 'a'))), [join(dir, 'a/rel')], 'relative to the base')
  t.same(paths(add('../a/b/../rel', join(dir, 'a'))), [], 'relative with dots, already recorded')
})

t.test('/ itself is recorded only when named', async (t) => {
  const { add } = setup()
  t.match(add('/'), [{ type: 'dir', path: '/' }])
  t.same(add('//'), [])
})

t.test('missing paths are warnings; unreachable ones are errors', async (t) => {
  const dir = t.testdir({ file: 'plain file' })
  const { add, ctx, io } = setup()
  add(dir)
  t.match(add(join(dir, 'missing')), [{ type: 'warning', code: 'ENOENT', path: join(dir, 'missing'), message: 'no such file or directory' }])
  t.match(add(join(dir, 'nodir/missing')), [{ type: 'warning', code: 'ENOENT', path: join(dir, 'nodir/missing') }])
  t.equal(ctx.counts.missing, 2)
  t.match(add(join(dir, 'file/under')), [{ type: 'error', code: 'ENOTDIR', path: join(dir, 'file/under'), message: /not a directory/ }])
  t.match(add(Buffer.from(`${dir}/nul\0byte`)), [{ type: 'warning', message: /not a path \(contains a NUL byte\)/ }])
  t.equal(ctx.counts.errors, 1)
  t.equal(ctx.counts.warnings, 3)
  t.match(io.err(), `sysbackup-pick: ${join(dir, 'file/under')}: not a directory`)
})

t.test('many files in few directories: each directory examined once', async (t) => {
  const dir = t.testdir({})
  for (let d = 0; d < 10; d++) {
    mkdirSync(join(dir, `d${d}`))
    for (let f = 0; f < 50; f++) writeFileSync(join(dir, `d${d}`, `f${f}`), '')
  }
  symlinkSync('.', join(dir, 'here'))
  const { add, ctx } = setup()
  for (let d = 0; d < 10; d++) for (let f = 0; f < 50; f++) add(join(dir, 'here', `d${d}`, `f${f}`))
  t.equal(ctx.counts.files, 500)
  t.equal(ctx.counts.dirs, ancestors(dir).length + 1 + 10)
  t.equal(ctx.counts.symlinks, 1, 'the link among the ancestors is recorded once')
  t.equal(ctx.counts.entries, 500 + ancestors(dir).length + 1 + 10 + 1)
  const link = decodePathField({ target: '.' }, 'target')
  t.equal(link, '.')
})
