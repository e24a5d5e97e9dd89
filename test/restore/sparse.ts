import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { dataRuns, HOLE_BYTES } from '../../src/restore/sparse.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { runBin } from '../helpers/bin.js'

const KiB = 1024
const MiB = 1024 * KiB

t.test('dataRuns: whole aligned blocks of zeros are left out, nothing else', async (t) => {
  const block = (fill: number) => Buffer.alloc(HOLE_BYTES, fill)
  t.same(dataRuns(Buffer.concat([block(1), block(0), block(0), block(2)]), 0), [[0, HOLE_BYTES], [3 * HOLE_BYTES, 4 * HOLE_BYTES]])
  t.same(dataRuns(Buffer.concat([block(0), block(0)]), 0), [], 'all zeros: nothing to write')
  t.same(dataRuns(Buffer.concat([block(0), block(0)]), 100), [[0, HOLE_BYTES - 100], [2 * HOLE_BYTES - 100, 2 * HOLE_BYTES]],
    'at an unaligned position the blocks cut by the ends are written; the aligned one between them is not')
  t.same(dataRuns(Buffer.alloc(10), 0), [[0, 10]], 'a part of a block is never a hole')
  const oneByte = block(0)
  oneByte[HOLE_BYTES - 1] = 1
  t.same(dataRuns(Buffer.concat([oneByte, block(0)]), 0), [[0, HOLE_BYTES]], 'one byte makes a block data')
  t.same(dataRuns(Buffer.alloc(0), 0), [])
})

/** A file of `size` bytes with data only at the given offsets (holes elsewhere). */
function holey(path: string, size: number, data: [number, Buffer][]): void {
  const fd = openSync(path, 'w')
  for (const [at, bytes] of data) writeSync(fd, bytes, 0, bytes.length, at)
  ftruncateSync(fd, size) // the end may be a hole
  closeSync(fd)
}

const allocated = (path: string) => statSync(path).blocks * 512
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

t.test('--sparse restores blocks of zeros as holes, through every way content is written; without it, allocated', async (t) => {
  const dir = t.testdir({})
  const source = join(dir, 'source')
  mkdirSync(source)
  // Small: its body is held whole and written by a decode worker. Big: streamed.
  // copy: the same content as big, copied from it on restore (--jobs 1: big is done first).
  holey(join(source, 'small'), 512 * KiB, [[0, randomBytes(3000)], [300 * KiB, randomBytes(5000)]])
  holey(join(source, 'big'), 40 * MiB, [[0, randomBytes(MiB)], [20 * MiB, randomBytes(100 * KiB)]])
  holey(join(source, 'copy'), 40 * MiB, [[0, readFileSync(join(source, 'big')).subarray(0, MiB)], [20 * MiB, readFileSync(join(source, 'big')).subarray(20 * MiB, 20 * MiB + 100 * KiB)]])
  t.equal(sha(join(source, 'copy')), sha(join(source, 'big')))
  const manifest = await runBackup(source, join(dir, 'work'), { host: 'web1', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: ['--store', join(dir, 'store')] })

  for (const sparse of [true, false]) {
    const target = join(dir, sparse ? 'sparse' : 'dense')
    const r = await runBin('sysbackup-restore', ['--store', join(dir, 'store'), '--key', manifest.key, '--target', target, '--jobs', '1', ...(sparse ? ['--sparse'] : [])], { timeoutMs: 120_000 })
    t.equal(r.status, 0, r.stderr)
    const counts = r.records().at(-1)!.counts as Record<string, number>
    t.equal(counts.copiedLocally, 1, 'one of big and copy was copied from the other')
    for (const name of ['small', 'big', 'copy']) {
      const restored = join(target, source, name)
      t.equal(sha(restored), sha(join(source, name)), `${name}: the same content`)
      t.equal(statSync(restored).size, statSync(join(source, name)).size, `${name}: the same length`)
      const data = name === 'small' ? 8000 : MiB + 100 * KiB
      if (sparse) t.ok(allocated(restored) <= data + 64 * KiB, `${name}: only its data allocated (${allocated(restored)} bytes for ${data})`)
      else t.ok(allocated(restored) >= statSync(restored).size, `${name}: all of it allocated (${allocated(restored)} bytes)`)
    }
  }
})
