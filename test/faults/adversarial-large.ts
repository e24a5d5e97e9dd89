import t from 'tap'
import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { FULL, summaryOf } from '../helpers/fault-bed.js'
import { testDir } from '../helpers/files.js'
import { local } from '../helpers/local-machine.js'

// Large adversarial trees: one huge directory, one huge sparse file
// (FAULTS_FULL=1: 100,000 files and 10 GiB).

t.test(`${FULL ? '100,000' : '20,000'} files in one directory`, async (t) => {
  const count = FULL ? 100_000 : 20_000
  const m = local(t, (tree) => {
    mkdirSync(join(tree, 'many'))
    for (let i = 0; i < count; i++) writeFileSync(join(tree, 'many', `file-${i}`), `${i % 100}\n`)
  })
  const started = Date.now()
  const run = await m.archive()
  const seconds = (Date.now() - started) / 1000
  t.equal(run.status, 0, run.stderr.slice(0, 2000))
  t.match(summaryOf(run), { outcome: 'complete', files: count, contentsStored: 100 })
  t.comment(`${count} files in one directory: archive ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)} files/s)`)
})

t.test(`a sparse file of ${FULL ? '10 GiB' : '512 MiB'} apparent size restores bit-exact`, async (t) => {
  const size = FULL ? 10 * 1024 ** 3 : 512 * 1024 ** 2
  let expected = ''
  const m = local(t, (tree) => {
    const file = join(tree, 'sparse.img')
    const fd = openSync(file, 'w')
    // A few data extents in a sea of holes, the last one ending the file.
    for (const at of [0, size / 4, size / 2 + 12345, size - 4096]) writeSync(fd, Buffer.from(`extent at ${at}\n`.padEnd(4096, '.')), 0, 4096, at)
    closeSync(fd)
    const hash = createHash('sha256')
    const buffer = Buffer.alloc(8 * 1024 * 1024)
    const rd = openSync(file, 'r')
    for (let at = 0; at < size;) {
      const n = readSync(rd, buffer, 0, buffer.length, at)
      hash.update(buffer.subarray(0, n))
      at += n
    }
    closeSync(rd)
    expected = hash.digest('hex')
  })
  const started = Date.now()
  const run = await m.archive()
  const archiveSeconds = (Date.now() - started) / 1000
  t.equal(run.status, 0, run.stderr)
  const target = join(testDir(t), '..', 'sparse-target')
  rmSync(target, { recursive: true, force: true })
  t.teardown(() => rmSync(target, { recursive: true, force: true }))
  const restoreStarted = Date.now()
  const restored = await m.restore(target)
  const restoreSeconds = (Date.now() - restoreStarted) / 1000
  t.equal(restored.status, 0, restored.stderr)
  const copy = join(target, m.tree, 'sparse.img')
  t.equal(statSync(copy).size, size)
  const sha = execFileSync('sha256sum', [copy], { encoding: 'utf8' }).split(' ')[0]
  t.equal(sha, expected, 'bit-exact')
  const stored = (summaryOf(run) as { bytesStored: number }).bytesStored
  t.comment(`sparse ${size} bytes: archive ${archiveSeconds.toFixed(1)} s, stored ${stored} bytes (gzip), restore ${restoreSeconds.toFixed(1)} s, `
    + `restored copy uses ${statSync(copy).blocks * 512} bytes on disk (holes ${statSync(copy).blocks * 512 < size / 2 ? 'kept' : 'filled'})`)
})
