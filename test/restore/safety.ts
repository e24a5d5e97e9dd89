import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { runStage } from '../../src/cli/stage.js'
import type { Rec } from '../../src/protocol/records.js'
import { tempNameFor } from '../../src/restore/file-writer.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { LocalStore } from '../../src/store/local-store.js'
import { DAY_MS, writeManifest } from '../helpers/backup-fixture.js'
import { dirState } from '../helpers/dir-state.js'
import { testIO } from '../helpers/io.js'

const RUN = new Date('2026-11-26T08:00:00Z')
const stage = makeRestoreStage({ confirm: null })
const PWNED = Buffer.from('pwned\n')
const SHA = createHash('sha256').update(PWNED).digest('hex')

const base = (path: string, extra: Record<string, unknown> = {}) => ({ path, mode: '0644', uid: 0, gid: 0, mtimeNs: '1600000000000000000', ctimeNs: '1', storageId: `1:${path.length}`, nlink: 1, ...extra })
const file = (path: string, extra: Record<string, unknown> = {}): Rec => ({ type: 'file', ...base(path), size: PWNED.length, sha256: SHA, key: `content/${SHA}`, ...extra })
const dir = (path: string, extra: Record<string, unknown> = {}): Rec => ({ type: 'dir', ...base(path, { mode: '0777', uid: 65534, gid: 65534, ...extra }) })
const symlink = (path: string, target: string): Rec => ({ type: 'symlink', ...base(path, { mode: '0777' }), target })

/** A target next to an `outside` directory with a victim file, a store holding the "pwned" content, and a way to restore records. */
async function setup(t: Test) {
  const root = t.testdir({ outside: { victim: 'original\n', sub: { deep: 'deep\n' } }, target: {} })
  const store = LocalStore.open(join(root, 'store'), { create: true })
  await store.putBuffer(`content/${SHA}`, PWNED, { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY_MS) })
  const outside = join(root, 'outside')
  const target = join(root, 'target')
  const restore = async (entries: Rec[], ...args: string[]) => {
    // Sorting would put entries in path order; crafted manifests keep the order given.
    const manifest = await writeManifest(store, entries, { host: 'evil', runTime: new Date(RUN.getTime() + Math.floor(Math.random() * 1e9)) })
    const io = testIO()
    const status = await runStage(stage, ['--store', join(root, 'store'), '--key', manifest.key, '--target', target, ...args], io)
    return { status, io, records: io.records(), err: io.err() }
  }
  return { root, outside, target, restore, before: dirState(outside) }
}

t.test('paths that climb out, are relative or are not normal are refused, each named', async (t) => {
  const s = await setup(t)
  const crafted: Rec[] = [
    file('/../outside/victim'),
    file('/a/../../outside/victim'),
    file('outside/victim'),
    file('/./victim'),
    { ...file('/x'), path: undefined, pathB64: Buffer.from('/../outside/victim').toString('base64') },
    dir('//'),
    file('/'),
  ]
  const stdin = [{ type: 'header', producer: 'sysbackup-manifest', protocol: 1 }, ...crafted, { type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: {} }]
  const io = testIO(stdin)
  t.equal(await runStage(stage, ['--store', join(s.root, 'store'), '--target', s.target], io), 1)
  t.same(dirState(s.outside), s.before, 'nothing outside changed')
  t.same(readdirSync(s.target), [], 'nothing was made in the target either')
  const lines = io.err().trim().split('\n')
  t.same(lines, [
    'sysbackup-restore: /../outside/victim: stdin:2: file entry: path has a ".." component; not restored',
    'sysbackup-restore: /a/../../outside/victim: stdin:3: file entry: path has a ".." component; not restored',
    'sysbackup-restore: outside/victim: stdin:4: file entry: path is not absolute; not restored',
    'sysbackup-restore: /./victim: stdin:5: file entry: path has a "." component; not restored',
    'sysbackup-restore: /../outside/victim: stdin:6: file entry: path has a ".." component; not restored',
    'sysbackup-restore: //: stdin:7: dir entry: path has an empty component ("//" or a trailing "/"); not restored',
    'sysbackup-restore: /: not restored: the target directory itself cannot be a file',
  ])
  t.equal(io.records().filter((r) => r.type === 'restore' && r.action === 'failed').length, 7)
})

t.test('a symlink in the manifest, and entries beneath it: the entries stay inside, the link is not made', async (t) => {
  const s = await setup(t)
  const r = await s.restore([symlink('/link', s.outside), symlink('/rel', '../outside'), file('/link/victim'), dir('/link/sub'), file('/link/sub/deep'), file('/rel/victim')])
  t.equal(r.status, 1)
  t.same(dirState(s.outside), s.before, 'nothing outside changed')
  t.same(readFileSync(join(s.target, 'link/victim')), PWNED, 'written inside the target')
  t.same(readFileSync(join(s.target, 'link/sub/deep')), PWNED)
  t.ok(lstatSync(join(s.target, 'link')).isDirectory(), 'the symlink was not made: files beneath it came first')
  t.match(r.err, '/link: not restored: a directory is in the way')
  t.match(r.err, '/rel: not restored: a directory is in the way')
})

t.test('a directory replaced on disk by a symlink to outside: nothing is created, changed or chowned through it', async (t) => {
  const s = await setup(t)
  symlinkSync(s.outside, join(s.target, 'etc'))
  symlinkSync(join(s.outside, 'sub'), join(s.target, 'd'))
  const entries = [
    dir('/etc'), file('/etc/victim'), dir('/etc/new'), file('/etc/new/f'), symlink('/etc/l', '/'),
    { type: 'special', ...base('/etc/fifo'), kind: 'fifo' }, dir('/d'), file('/d/deep'), dir('/d/x'),
  ]
  for (const extra of [[], ['--overwrite']]) {
    const r = await s.restore(entries, ...extra)
    t.equal(r.status, 1, extra.join(' '))
    t.same(dirState(s.outside), s.before, `nothing outside changed ${extra.join(' ')}`)
    t.equal(readlinkSync(join(s.target, 'etc')), s.outside, 'the symlink itself is left as it is')
    t.match(r.err, `/etc: not restored: ${join(s.target, 'etc')} is a symbolic link on disk; not followed`)
    t.match(r.err, `/etc/new/f: not restored: ${join(s.target, 'etc')} is a symbolic link on disk; not followed`)
    t.match(r.err, `/d/deep: not restored: ${join(s.target, 'd')} is a symbolic link on disk; not followed`)
    t.equal(r.records.filter((x) => x.type === 'restore' && x.action === 'failed').length, entries.length)
  }
})

t.test('a symlink where a file goes is replaced (with --overwrite), never written through', async (t) => {
  const s = await setup(t)
  symlinkSync(join(s.outside, 'victim'), join(s.target, 'f'))
  const kept = await s.restore([file('/f')])
  t.equal(kept.status, 1)
  t.match(kept.err, '/f: a different symlink is there; kept (use --overwrite to replace it)')
  const replaced = await s.restore([file('/f')], '--overwrite')
  t.equal(replaced.status, 0, replaced.err)
  t.ok(lstatSync(join(s.target, 'f')).isFile())
  t.same(readFileSync(join(s.target, 'f')), PWNED)
  t.same(dirState(s.outside), s.before, 'nothing outside changed')
})

t.test('a symlink planted at the temporary name is removed, not followed', async (t) => {
  const s = await setup(t)
  mkdirSync(join(s.target, 'dir'))
  const planted = Buffer.concat([Buffer.from(join(s.target, 'dir') + '/'), tempNameFor(Buffer.from('f'))])
  symlinkSync(join(s.outside, 'victim'), planted)
  const r = await s.restore([file('/dir/f')])
  t.equal(r.status, 0, r.err)
  t.same(readFileSync(join(s.target, 'dir/f')), PWNED)
  t.notOk(existsSync(planted), 'the planted link is gone')
  t.same(dirState(s.outside), s.before, 'nothing outside changed')
})
