import t from 'tap'
import { spawnSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../../src/util/atomic-file.js'

const MODES = { dirMode: 0o700, fileMode: 0o600 }

t.test('writeFileAtomic removes the temporary files of the file that processes no longer running left, and only those', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'files-cache')
  // A pid that has ended: a child that ran and exited.
  const gone = spawnSync('true').pid!
  const alive = spawn('sleep', ['30'])
  t.teardown(() => alive.kill())
  const stale = `files-cache.${gone}.0123abcd.tmp`
  const live = `files-cache.${alive.pid!}.89abcdef.tmp`
  const other = `content-versions.${gone}.0123abcd.tmp`
  for (const name of [stale, live, other, 'files-cache.notes']) writeFileSync(join(dir, name), 'left behind')
  await writeFileAtomic(file, [Buffer.from('new content\n')], MODES)
  t.equal(readFileSync(file, 'utf8'), 'new content\n')
  t.same(readdirSync(dir).sort(), [other, 'files-cache', live, 'files-cache.notes'].sort(),
    'the dead process\'s temporary file of this file is gone; a running one\'s, another file\'s and other names stay')
})
