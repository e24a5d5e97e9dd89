import t from 'tap'
import { appendFileSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { FatalError } from '../../src/cli/errors.js'
import { EXIT } from '../../src/cli/exit-status.js'
import { checkStoreStillThere, KNOWN_STORES_FILE, rememberStore } from '../../src/archive/known-stores.js'
import { LocalStore } from '../../src/store/local-store.js'

t.test('a remembered store that has gone is refused; one never seen, or still there, is not', async (t) => {
  const root = t.testdir({ state: {} })
  const state = join(root, 'state')
  const dir = join(root, 'disk')
  t.doesNotThrow(() => checkStoreStillThere(state, dir), 'nothing remembered: a first run may make its store')
  LocalStore.open(dir, { create: true })
  t.equal(await rememberStore(state, dir), undefined)
  const line = JSON.parse(readFileSync(join(state, KNOWN_STORES_FILE), 'utf8')) as Record<string, string>
  t.match(line, { path: dir, instance: /^[0-9a-f]{32}$/, createdAt: /^\d{4}-/ })
  t.doesNotThrow(() => checkStoreStillThere(state, dir), 'still there')

  const written = statSync(join(state, KNOWN_STORES_FILE)).mtimeMs
  await new Promise((resolve) => setTimeout(resolve, 20))
  await rememberStore(state, dir)
  t.equal(statSync(join(state, KNOWN_STORES_FILE)).mtimeMs, written, 'the same store again: the file is not rewritten')

  renameSync(dir, `${dir}-away`)
  const missing = t.throws(() => checkStoreStillThere(state, dir)) as unknown
  t.ok(missing instanceof FatalError && missing.exitStatus === EXIT.FATAL, 'exit status 3')
  t.match((missing as Error).message, `file:${dir}: the store this machine backed up into here (made ${line.createdAt}) is not there`)
  mkdirSync(dir)
  t.throws(() => checkStoreStillThere(state, dir), /is missing or empty/, 'an empty directory in its place is refused too')
  t.doesNotThrow(() => checkStoreStillThere(state, join(root, 'other')), 'another path is not concerned')

  // Another store now at the path (a rotated disk): remembered in its place.
  renameSync(dir, `${dir}-empty`)
  const other = LocalStore.open(dir, { create: true })
  await rememberStore(state, dir)
  t.match(JSON.parse(readFileSync(join(state, KNOWN_STORES_FILE), 'utf8')), { path: dir, instance: other.cacheId.split('#')[1] })
})

t.test('a damaged line is passed over; the others still count', async (t) => {
  const root = t.testdir({ state: {} })
  const state = join(root, 'state')
  const dir = join(root, 'disk')
  LocalStore.open(dir, { create: true })
  await rememberStore(state, dir)
  appendFileSync(join(state, KNOWN_STORES_FILE), '{"path": 12}\nnot json\n')
  renameSync(dir, `${dir}-away`)
  t.throws(() => checkStoreStillThere(state, dir), /is not there/)
})
