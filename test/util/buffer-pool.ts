import t from 'tap'
import { BufferPool } from '../../src/util/buffer-pool.js'

t.test('buffers come in power-of-two sizes from 4 KiB, each its own memory', async (t) => {
  const pool = new BufferPool(1 << 20)
  t.equal(pool.take(1).length, 4096)
  t.equal(pool.take(4096).length, 4096)
  t.equal(pool.take(4097).length, 8192)
  t.equal(pool.take(300_000).length, 524_288)
  const b = pool.take(10)
  t.equal(b.byteOffset, 0)
  t.equal(b.buffer.byteLength, b.length, 'not a slice of a shared slab')
})

t.test('a buffer given back is taken again for a length of its class', async (t) => {
  const pool = new BufferPool(1 << 20)
  const a = pool.take(5000)
  pool.give(a)
  t.equal(pool.take(6000), a)
  t.not(pool.take(6000), a, 'taken once only')
  const small = pool.take(100)
  pool.give(small)
  t.not(pool.take(5000), small, 'another class gets another buffer')
})

t.test('the pool keeps at most maxBytes, and only buffers of its own sizes', async (t) => {
  const pool = new BufferPool(16_384)
  const [a, b, c] = [pool.take(8192), pool.take(8192), pool.take(8192)]
  pool.give(a)
  pool.give(b)
  pool.give(c)
  const again = [pool.take(8192), pool.take(8192), pool.take(8192)]
  t.same(again.map((x) => x === a || x === b), [true, true, false], 'the third was not kept')
  t.not(again[2], c)
  pool.give(Buffer.alloc(5000))
  t.equal(pool.take(5000).length, 8192, 'a buffer of another size is not kept')
})
