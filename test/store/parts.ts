import t from 'tap'
import { MAX_PART_SIZE, MIN_PART_SIZE, PartReader, partCount, partSizeFor } from '../../src/store/parts.js'

const MiB = 1024 * 1024

t.test('part sizes double every 1000 parts, up to S3\'s maximum', async (t) => {
  t.equal(partSizeFor(1, 8 * MiB), 8 * MiB)
  t.equal(partSizeFor(1000, 8 * MiB), 8 * MiB)
  t.equal(partSizeFor(1001, 8 * MiB), 16 * MiB)
  t.equal(partSizeFor(2001, 8 * MiB), 32 * MiB)
  t.equal(partSizeFor(10_000, 8 * MiB), 4096 * MiB)
  t.equal(partSizeFor(10_000, 16 * MiB), MAX_PART_SIZE, 'capped at 5 GiB')
  let total = 0
  for (let i = 1; i <= 10_000; i++) total += partSizeFor(i, 8 * MiB)
  t.ok(total >= 5 * 2 ** 40, 'with 8 MiB parts, 10,000 parts reach S3\'s 5 TiB object limit')
  t.equal(partCount(0, MIN_PART_SIZE), 1)
  t.equal(partCount(MIN_PART_SIZE, MIN_PART_SIZE), 1)
  t.equal(partCount(MIN_PART_SIZE + 1, MIN_PART_SIZE), 2)
  t.equal(partCount(1000 * MIN_PART_SIZE + 1, MIN_PART_SIZE), 1001)
  t.equal(partCount(1000 * MIN_PART_SIZE + 2 * MIN_PART_SIZE + 1, MIN_PART_SIZE), 1002, 'part 1001 is twice as large')
})

t.test('PartReader cuts chunks into exact parts and reads one chunk ahead at most', async (t) => {
  let pulled = 0
  async function* source(): AsyncGenerator<Buffer> {
    for (const size of [3, 0, 5, 1, 7]) {
      pulled += size
      yield Buffer.alloc(size, size)
    }
  }
  const r = new PartReader(source())
  const a = await r.read(4)
  t.same([...a!], [3, 3, 3, 5])
  t.equal(pulled, 8, 'no more than the chunk that completed the part')
  t.same([...(await r.read(4))!], [5, 5, 5, 5])
  t.equal(await r.atEnd(), false)
  t.same([...(await r.read(100))!], [1, 7, 7, 7, 7, 7, 7, 7], 'the last part is shorter')
  t.equal(await r.atEnd(), true)
  t.equal(await r.read(4), null)
  t.equal(r.pulled, 16)
})

t.test('close lets the source clean up', async (t) => {
  let finished = false
  async function* source(): AsyncGenerator<Buffer> {
    try {
      for (;;) yield Buffer.alloc(10)
    } finally {
      finished = true
    }
  }
  const r = new PartReader(source())
  await r.read(15)
  await r.close()
  t.ok(finished)
})
