import t from 'tap'
import { execFileSync } from 'node:child_process'
import { symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { runStage, StageContext } from '../../../src/cli/stage.js'
import type { Rec } from '../../../src/protocol/records.js'
import { pickStage } from '../../../src/stages/pick/pick-stage.js'
import { XattrStep } from '../../../src/stages/pick/attach-xattrs.js'
import { XattrReader } from '../../../src/stages/pick/xattr-reader.js'
import { testIO } from '../../helpers/io.js'

/** Sets extended attributes with python3 (Node has no call for them), on a symlink itself: [path, name, value]. */
function setXattrs(list: [string, string, Buffer][]): void {
  execFileSync('python3', ['-c', `
import json, os, sys
for path, name, value in json.load(sys.stdin):
    os.setxattr(path, name, bytes.fromhex(value), follow_symlinks=False)
`], { input: JSON.stringify(list.map(([path, name, value]) => [path, name, value.toString('hex')])) })
}

const nul = (paths: string[]) => Buffer.concat(paths.flatMap((p) => [Buffer.from(p), Buffer.from([0])]))

t.test('the reader: each path\'s own attributes by index, failures by errno, batches in order', async (t) => {
  const dir = t.testdir({ a: 'a', b: 'b', plain: 'p' })
  symlinkSync('a', join(dir, 'link'))
  execFileSync('mkfifo', [join(dir, 'fifo')])
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  setXattrs([
    [join(dir, 'a'), 'user.binary', binary],
    [join(dir, 'a'), 'user.empty', Buffer.alloc(0)],
    [join(dir, 'link'), 'trusted.note', Buffer.from('link')],
    [join(dir, 'fifo'), 'trusted.note', Buffer.from('fifo')],
  ])
  execFileSync('setfacl', ['-m', 'u:nobody:r--', join(dir, 'b')])
  const reader = new XattrReader(process.env)
  // Two batches in flight at once: answered in the order asked.
  const [first, second] = await Promise.all([
    reader.read(nul([join(dir, 'plain'), join(dir, 'a'), join(dir, 'missing'), join(dir, 'b')])),
    reader.read(nul([join(dir, 'link'), join(dir, 'fifo')])),
  ])
  reader.close()
  t.equal(first.unavailable, undefined)
  t.same([...first.attributes.keys()], [1, 3], 'only the files with attributes')
  t.same(first.attributes.get(3)!.map(({ name }) => name.toString()), ['system.posix_acl_access'], 'an ACL is one')
  const a = first.attributes.get(1)!.map(({ name, value }) => [name.toString(), Buffer.from(value, 'base64').toString('hex')]).sort()
  t.same(a, [['user.binary', binary.toString('hex')], ['user.empty', '']])
  t.same(first.failures, [{ index: 2, code: 'ENOENT' }])
  t.same(second.attributes.get(0)!.map(({ name, value }) => [name.toString(), Buffer.from(value, 'base64').toString()]), [['trusted.note', 'link']], 'the link itself, not its target')
  t.same(second.attributes.get(1)!.map(({ name }) => name.toString()), ['trusted.note'])
  t.match(await reader.read(nul([join(dir, 'a')])), { unavailable: /closed/ }, 'nothing is read after close')
})

t.test('without python3 the reader says why', async (t) => {
  const reader = new XattrReader({ PATH: '/nonexistent' })
  const found = await reader.read(nul(['/etc']))
  reader.close()
  t.match(found, { unavailable: 'python3 was not found on PATH' })
})

async function pick(paths: string[], env: NodeJS.ProcessEnv = {}) {
  const io = testIO(paths.join('\n') + '\n', env)
  const status = await runStage(pickStage, ['--stdin'], io)
  const records = io.records()
  const byPath = new Map(records.filter((r: Rec) => typeof r.path === 'string').map((r) => [r.path as string, r]))
  return { status, records, byPath, trailer: records.at(-1)!, io }
}

t.test('sysbackup-pick records extended attributes: names sorted, base64 values, only where there are some', async (t) => {
  const dir = t.testdir({ f: 'f', g: 'g' })
  symlinkSync('f', join(dir, 'link'))
  setXattrs([
    [join(dir, 'f'), 'user.zeta', Buffer.from('z')],
    [join(dir, 'f'), 'user.alpha', Buffer.from([0, 1, 2])],
    [join(dir, 'f'), 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex')],
    [dir, 'user.dir', Buffer.from('d')],
    [join(dir, 'link'), 'trusted.x', Buffer.from('l')],
  ])
  execFileSync('setfacl', ['-m', 'u:nobody:r--', join(dir, 'g')])
  const { status, byPath, trailer, io } = await pick([join(dir, 'f'), join(dir, 'g'), join(dir, 'link')])
  t.equal(status, 0, io.err())
  const f = byPath.get(join(dir, 'f'))!
  t.same(Object.keys(f.xattrs as object), ['security.capability', 'user.alpha', 'user.zeta'], 'sorted by name')
  t.same(f.xattrs, { 'security.capability': 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=', 'user.alpha': 'AAEC', 'user.zeta': 'eg==' })
  t.same(byPath.get(dir)!.xattrs, { 'user.dir': 'ZA==' }, 'an ancestor directory too')
  t.same(byPath.get(join(dir, 'link'))!.xattrs, { 'trusted.x': 'bA==' }, 'the link\'s own')
  const g = byPath.get(join(dir, 'g'))!
  t.equal(g.xattrs, undefined, 'an ACL is recorded as acl, not in xattrs')
  t.equal(g.acl, 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::r--')
  t.match(trailer, { ok: true, counts: { xattrs: 3, acls: 1, warnings: 0 } })
})

t.test('sysbackup-pick without python3: one warning, ACLs from getfacl, no other attributes', async (t) => {
  const dir = t.testdir({ f: 'f', bin: {} })
  setXattrs([[join(dir, 'f'), 'user.x', Buffer.from('x')]])
  execFileSync('setfacl', ['-m', 'u:nobody:r--', join(dir, 'f')])
  // PATH with getfacl and xargs but no python3.
  const bin = join(dir, 'bin')
  for (const tool of ['getfacl', 'xargs']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool))
  const { status, records, byPath, trailer } = await pick([join(dir, 'f')], { PATH: bin })
  t.equal(status, 0)
  const warnings = records.filter((r) => r.type === 'warning')
  t.equal(warnings.length, 1)
  t.match(warnings[0], { message: 'extended attributes are not being recorded: python3 was not found on PATH' })
  t.ok(byPath.has(join(dir, 'f')))
  t.equal(byPath.get(join(dir, 'f'))!.xattrs, undefined)
  t.equal(byPath.get(join(dir, 'f'))!.acl, 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::r--', 'the ACL read by getfacl instead')
  t.match(trailer, { counts: { xattrs: 0, acls: 1, warnings: 1 } })
})

t.test('ACLs read from their extended attributes are the text getfacl prints, with no getfacl run', async (t) => {
  const dir = t.testdir({ named: 'n', numeric: 'u', base: 'b', dirs: { inner: {} }, plain: {} })
  execFileSync('setfacl', ['-m', 'u:nobody:r--,g:nogroup:rw-,u:daemon:rwx', join(dir, 'named')])
  execFileSync('setfacl', ['-m', 'u:23456:r--,g:34567:--x', join(dir, 'numeric')])
  execFileSync('setfacl', ['-m', 'u::rw-,g::r--,o::---', join(dir, 'base')]) // only the mode bits
  execFileSync('setfacl', ['-m', 'u:nobody:rwx', '-d', '-m', 'u:nobody:r-x,g:nogroup:rwx', join(dir, 'dirs')])
  execFileSync('setfacl', ['-d', '-m', 'u:daemon:rwx', join(dir, 'plain')]) // a default ACL only
  const paths = ['named', 'numeric', 'base', 'dirs', 'dirs/inner', 'plain'].map((p) => join(dir, p))
  // PATH without getfacl: these come from the extended attributes alone.
  const bin = join(dir, 'bin')
  execFileSync('mkdir', [bin])
  // The interpreter itself (a pyenv shim on PATH would need the rest of PATH).
  symlinkSync(execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim(), join(bin, 'python3'))
  const { status, records, byPath, trailer } = await pick(paths, { PATH: bin })
  t.equal(status, 0)
  t.same(records.filter((r) => r.type === 'warning'), [], 'no warning: getfacl was not needed')
  const getfacl = execFileSync('getfacl', ['--absolute-names', '--skip-base', ...paths], { encoding: 'utf8' })
  for (const block of getfacl.trim().split('\n\n')) {
    const lines = block.split('\n')
    const path = lines[0]!.slice('# file: '.length)
    const entries = lines.filter((l) => !l.startsWith('#')).map((l) => l.split('\t#')[0]!)
    const access = entries.filter((e) => !e.startsWith('default:'))
    const defaults = entries.filter((e) => e.startsWith('default:')).map((e) => e.slice('default:'.length))
    const rec = byPath.get(path)!
    if (access.some((e) => e.startsWith('mask:') || /^(user|group):[^:]/.test(e))) t.equal(rec.acl, access.join(','), `${path}: acl`)
    else t.equal(rec.acl, undefined, `${path}: no extended access ACL`)
    t.equal(rec.defaultAcl, defaults.length > 0 ? defaults.join(',') : undefined, `${path}: defaultAcl`)
  }
  t.match(byPath.get(join(dir, 'numeric')), { acl: 'user::rw-,user:23456:r--,group::r--,group:34567:--x,mask::r-x,other::r--' }, 'ids without names by number')
  t.equal(byPath.get(join(dir, 'base'))!.acl, undefined, 'an ACL of the mode bits alone is not recorded')
  t.equal(byPath.get(join(dir, 'plain'))!.acl, undefined)
  t.equal(byPath.get(join(dir, 'plain'))!.defaultAcl, 'user::rwx,user:daemon:rwx,group::r-x,mask::rwx,other::r-x')
  t.match(trailer, { counts: { acls: 4 } }, 'named, numeric, dirs and plain (dirs/inner was made before its parent had a default ACL)')
})

t.test('making the step starts no python3: attachAcls starts it once records flow', async (t) => {
  let started = 0
  const reader = { start: () => { started++ }, close: () => {} } as unknown as XattrReader
  const ctx = new StageContext('sysbackup-pick', testIO(), new AbortController())
  const step = new XattrStep(ctx, { user: () => undefined, group: () => undefined }, process.env, reader)
  t.equal(started, 0)
  step.start()
  t.equal(started, 1)
})
