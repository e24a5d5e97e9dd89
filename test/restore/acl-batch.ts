import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { openSync } from 'node:fs'
import { join } from 'node:path'
import { AclBatch, aclProblem } from '../../src/restore/acl-batch.js'
import { OwnerIds } from '../../src/restore/owner-ids.js'
import { PIN_FLAGS } from '../../src/restore/target-dirs.js'

const owners = new OwnerIds({ passwd: '/etc/passwd', group: '/etc/group', env: process.env })
const getfacl = (path: string) => execFileSync('getfacl', ['-c', '-E', '-p', path], { encoding: 'utf8' }).trim().split('\n').join(',')
/** Counts setfacl processes by putting a counting wrapper first on PATH. */
function countingPath(dir: string): { env: NodeJS.ProcessEnv, runs: () => number } {
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const real = spawnSync('sh', ['-c', 'command -v setfacl'], { encoding: 'utf8' }).stdout.trim()
  writeFileSync(join(bin, 'setfacl'), `#!/bin/sh\necho x >> ${join(dir, 'runs')}\nexec ${real} "$@"\n`, { mode: 0o755 })
  return {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    runs: () => { try { return execFileSync('cat', [join(dir, 'runs')], { encoding: 'utf8' }).split('\n').filter(Boolean).length } catch { return 0 } },
  }
}

t.test('one setfacl sets many entries: access ACLs, a default ACL alone, modes with setgid kept', async (t) => {
  const dir = t.testdir({})
  const { env, runs } = countingPath(dir)
  const failures: string[] = []
  let set = 0
  const batch = new AclBatch({ env, owners, maxEntries: 100, onSet: () => { set++ } })
  for (let i = 0; i < 20; i++) {
    writeFileSync(join(dir, `f${i}`), 'x')
    chmodSync(join(dir, `f${i}`), 0o640)
    await batch.add({ fd: openSync(join(dir, `f${i}`), PIN_FLAGS), acl: 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::---', mode: 0o640, failed: (m) => failures.push(m) })
  }
  mkdirSync(join(dir, 'shared'))
  chmodSync(join(dir, 'shared'), 0o2775)
  await batch.add({ fd: openSync(join(dir, 'shared'), PIN_FLAGS), defaultAcl: 'user::rwx,user:nobody:rwx,group::r-x,mask::rwx,other::r-x', mode: 0o2775, failed: (m) => failures.push(m) })
  await batch.flush()
  t.same(failures, [])
  t.equal(set, 21)
  t.equal(runs(), 1, 'one setfacl process')
  t.equal(getfacl(join(dir, 'f7')), 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::---')
  t.match(getfacl(join(dir, 'shared')), /default:user:nobody:rwx/)
  t.equal(statSync(join(dir, 'shared')).mode & 0o7777, 0o2775, 'setgid survives setfacl')
})

t.test('an unknown name is caught before setfacl; a failing entry is pinned on itself', async (t) => {
  const dir = t.testdir({ a: 'a', b: 'b', c: 'c' })
  const failures: Record<string, string> = {}
  const batch = new AclBatch({ env: process.env, owners })
  const add = async (name: string, acl: string, defaultAcl?: string) => batch.add({
    fd: openSync(join(dir, name), PIN_FLAGS), acl, ...(defaultAcl !== undefined && { defaultAcl }), mode: 0o644, failed: (m) => { failures[name] = m },
  })
  await add('a', 'user::rw-,user:no-such-user-here:r--,group::r--,mask::r--,other::r--')
  await add('b', 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::r--')
  await add('c', 'user::rw-,group::r--,other::r--', 'user::rwx,group::r-x,other::r-x') // a file cannot have a default ACL
  await batch.flush()
  t.match(failures.a, /^ACL not restored: names user "no-such-user-here", which does not exist on this machine$/)
  t.equal(failures.c, 'ACL not restored: Only directories can have default ACLs')
  t.notOk('b' in failures)
  t.match(getfacl(join(dir, 'b')), /user:nobody:r--/, 'b was set although c, after it in the same batch, failed')
})

t.test('ACL text that is not ACL text is refused with the entry named', async (t) => {
  t.equal(aclProblem('user::rw-,group::r--,other::r--', owners), null)
  t.equal(aclProblem('user:1234:r-x,mask::r-x', owners), null, 'numeric qualifiers need no name')
  t.match(aclProblem('user::rw-,bogus', owners), /"bogus" is not an ACL entry/)
  t.match(aclProblem('user::rwz', owners), /"user::rwz" is not an ACL entry/)
  t.match(aclProblem('group:no-such-group-x:r--', owners), /names group "no-such-group-x"/)
})

t.test('without setfacl, every entry says so', async (t) => {
  const dir = t.testdir({ a: 'a' })
  const failures: string[] = []
  const batch = new AclBatch({ env: { PATH: '/nonexistent' }, owners })
  await batch.add({ fd: openSync(join(dir, 'a'), PIN_FLAGS), acl: 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::r--', mode: 0o644, failed: (m) => failures.push(m) })
  await batch.flush()
  t.same(failures, ['ACL not restored: setfacl was not found on PATH (install the acl package)'])
})
