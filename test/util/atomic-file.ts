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

t.test('writeFileAtomic: chunks from an async source; without dirMode the directory must exist; a failing source leaves the file as it was', async (t) => {
  const dir = t.testdir({ 'kept': 'the old content\n' })
  async function* chunks(fail: boolean) {
    yield Buffer.from('new ')
    await new Promise(setImmediate)
    if (fail) throw new Error('the source failed')
    yield Buffer.from('content\n')
  }
  await writeFileAtomic(join(dir, 'made'), chunks(false), { fileMode: 0o600 })
  t.equal(readFileSync(join(dir, 'made'), 'utf8'), 'new content\n')
  await t.rejects(writeFileAtomic(join(dir, 'kept'), chunks(true), { fileMode: 0o600 }), /the source failed/)
  t.equal(readFileSync(join(dir, 'kept'), 'utf8'), 'the old content\n')
  t.same(readdirSync(dir).sort(), ['kept', 'made'], 'no temporary file left')
  await t.rejects(writeFileAtomic(join(dir, 'missing/file'), chunks(false), { fileMode: 0o600 }), { code: 'ENOENT' })
  t.same(readdirSync(dir).sort(), ['kept', 'made'], 'no directory made')
})
