import t from 'tap'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readAt, writeAt } from '../../src/util/fd-io.js'

t.test('writeAt writes the whole buffer at its position, small (at once) and large (through the pool)', async (t) => {
  const path = join(t.testdir({}), 'out')
  const fd = openSync(path, 'w+')
  try {
    const small = Buffer.alloc(10_000, 'a')
    const large = Buffer.alloc(300_000, 'b')
    await writeAt(fd, small, 0)
    await writeAt(fd, large, small.length)
    await writeAt(fd, Buffer.from('XY'), 5)
    await writeAt(fd, Buffer.alloc(0), 3)
    const expected = Buffer.concat([small, large])
    expected.write('XY', 5)
    t.same(readFileSync(path), expected)
    const back = Buffer.alloc(4)
    t.equal(await readAt(fd, back, 0, 4, 4), 4)
    t.equal(back.toString(), 'aXYa')
    t.equal(await readAt(fd, back, 0, 4, expected.length), 0, 'nothing at the end')
  } finally {
    closeSync(fd)
  }
})

t.test('writeAt on a descriptor not open for writing rejects with its errno', async (t) => {
  const path = join(t.testdir({ f: 'x' }), 'f')
  const fd = openSync(path, 'r')
  try {
    await t.rejects(writeAt(fd, Buffer.from('small'), 0), { code: 'EBADF' })
    await t.rejects(writeAt(fd, Buffer.alloc(200_000), 0), { code: 'EBADF' })
  } finally {
    closeSync(fd)
  }
})
