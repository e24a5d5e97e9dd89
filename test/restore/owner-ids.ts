import t from 'tap'
import { lstatSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runStage } from '../../src/cli/stage.js'
import { OwnerIds } from '../../src/restore/owner-ids.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { testIO } from '../helpers/io.js'

t.test('names as this machine knows them, else the numeric id; --numeric-owner ignores names', async (t) => {
  const dir = t.testdir({
    passwd: 'root:x:0:0::/root:/bin/sh\nann:x:1500:1500::/home/ann:/bin/sh\n+nis::::::\nalias:x:1500:1500::/:/bin/sh\n',
    group: 'root:x:0:\nstaff:x:2500:\n',
  })
  const owners = new OwnerIds({ passwd: join(dir, 'passwd'), group: join(dir, 'group'), env: { PATH: '/nonexistent' } })
  t.equal(owners.uid('ann', 1000), 1500, 'by name: this machine\'s id')
  t.equal(owners.uid('bob', 1001), 1001, 'unknown here: the number from the backup')
  t.equal(owners.uid(undefined, 1002), 1002, 'no name: the number')
  t.equal(owners.gid('staff', 50), 2500)
  t.equal(owners.gid('wheel', 10), 10)
  t.ok(owners.knowsUser('ann'))
  t.ok(owners.knowsUser('4242'), 'a number needs no name')
  t.notOk(owners.knowsUser('bob'))
  t.notOk(owners.knowsGroup('wheel'))
  const numeric = new OwnerIds({ passwd: join(dir, 'passwd'), group: join(dir, 'group'), env: {} }, true)
  t.equal(numeric.uid('ann', 1000), 1000)
  t.equal(numeric.gid('staff', 50), 50)
})

t.test('names not in the files are asked of getent (an alias of an id here)', async (t) => {
  const dir = t.testdir({ passwd: '', group: '' })
  const owners = new OwnerIds({ passwd: join(dir, 'passwd'), group: join(dir, 'group'), env: process.env })
  t.equal(owners.uid('nobody', 1), 65534, 'from getent, the system database')
  t.equal(owners.uid('-rf', 7), 7, 'something that is not a name is not asked about')
})

t.test('the stage restores owners by name, or by number with --numeric-owner', async (t) => {
  const base = t.testdir({ passwd: 'root:x:0:0::/:/bin/sh\nweb:x:33:33::/:/bin/sh\n', group: 'root:x:0:\nweb:x:33:\n' })
  const stage = makeRestoreStage({ confirm: null, ownerSources: { passwd: join(base, 'passwd'), group: join(base, 'group') } })
  const entry = { type: 'dir', path: '/d', mode: '0750', uid: 1000, gid: 1000, user: 'web', group: 'web', mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 2 }
  const stdin = [{ type: 'header', producer: 'x', protocol: 1 }, entry, { type: 'trailer', producer: 'x', ok: true, counts: {} }]
  const named = testIO(stdin)
  t.equal(await runStage(stage, ['--target', join(base, 'a'), '--dry-run'], testIO(stdin)), 0)
  t.equal(await runStage(stage, ['--target', join(base, 'a'), '--store', join(base, 'none')], named), 3, 'a store is needed for a real restore')
  writeFileSync(join(base, 'marker'), '')
  const local = join(base, 'store')
  const { LocalStore } = await import('../../src/store/local-store.js')
  LocalStore.open(local, { create: true })
  t.equal(await runStage(stage, ['--target', join(base, 'a'), '--store', local], testIO(stdin)), 0)
  t.match(lstatSync(join(base, 'a/d')), { uid: 33, gid: 33 })
  t.equal(await runStage(stage, ['--target', join(base, 'b'), '--store', local, '--numeric-owner'], testIO(stdin)), 0)
  t.match(lstatSync(join(base, 'b/d')), { uid: 1000, gid: 1000 })
})
