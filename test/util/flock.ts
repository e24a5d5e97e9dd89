import t from 'tap'
import { closeSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { flock } from '../../src/util/flock.js'
import { holdExclusiveLock } from '../helpers/files.js'

t.test('a held exclusive lock: timeout 0 tries once; an abort stops the wait', async (t) => {
  const path = join(t.testdir({ f: 'x' }), 'f')
  const release = await holdExclusiveLock(t, path, 5)
  const fd = openSync(path, 'r')
  t.same(await flock(fd, 'shared', 0), { locked: false, code: 'EWOULDBLOCK' })
  t.same(await flock(fd, 'exclusive', 0), { locked: false, code: 'EWOULDBLOCK' })
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 50)
  t.same(await flock(fd, 'shared', 60_000, controller.signal), { locked: false, code: 'ABORTED' })
  closeSync(fd)
  release()
})

t.test('shared locks coexist; an exclusive one waits for them', async (t) => {
  const path = join(t.testdir({ f: 'x' }), 'f')
  const a = openSync(path, 'r')
  const b = openSync(path, 'r')
  const c = openSync(path, 'r')
  t.same(await flock(a, 'shared', 0), { locked: true, waited: false })
  t.same(await flock(b, 'shared', 0), { locked: true, waited: false })
  t.same(await flock(c, 'exclusive', 0), { locked: false, code: 'EWOULDBLOCK' })
  setTimeout(() => { closeSync(a); closeSync(b) }, 60)
  t.same(await flock(c, 'exclusive', 5_000), { locked: true, waited: true })
  closeSync(c)
})
