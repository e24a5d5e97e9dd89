import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { runStage } from '../../src/cli/stage.js'
import { FsHelper } from '../../src/restore/fs-helper.js'
import { EntryError, parseEntry } from '../../src/restore/restore-entry.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'
import { compareTrees } from '../helpers/tree-compare.js'

const file = (xattrs: unknown) => ({ type: 'file', path: '/etc/a', mode: '0644', uid: 0, gid: 0, mtimeNs: '1', size: 0, nlink: 1, xattrs })

t.test('a manifest entry\'s extended attributes: names to base64 values, checked', async (t) => {
  t.same(parseEntry(file({ 'security.capability': 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=', 'user.empty': '' })).xattrs,
    [['security.capability', 'AQAAAgAgAAAAAAAAAAAAAAAAAAA='], ['user.empty', '']])
  t.equal(parseEntry(file(undefined)).xattrs, undefined, 'none')
  const refused = (xattrs: unknown) => {
    try {
      parseEntry(file(xattrs))
      return 'accepted'
    } catch (err) {
      t.type(err, EntryError)
      t.equal((err as EntryError).path, '/etc/a', 'names the entry')
      return (err as Error).message
    }
  }
  t.equal(refused(['user.a', 'AA==']), '"xattrs" is not an object of names to base64 values')
  t.equal(refused('user.a'), '"xattrs" is not an object of names to base64 values')
  t.equal(refused({ 'user.a': 'not base64!' }), '"xattrs": the value of user.a is not base64')
  t.equal(refused({ 'user.a': 7 }), '"xattrs": the value of user.a is not base64')
  t.equal(refused({ nonamespace: 'AA==' }), '"xattrs": "nonamespace" is not an extended attribute name')
})

t.test('a restore sends the attributes of the files it writes to the helper in batches, not one round trip per file', async (t) => {
  const files: Record<string, string> = {}
  for (let i = 0; i < 300; i++) files[`f${i}`] = `content ${i}\n`
  const base = t.testdir({ src: { a: files, b: { one: 'one\n' } } })
  const entries = ['', '/a', '/b', '/b/one', ...Object.keys(files).map((name) => `/a/${name}`)].map((path) => join(base, 'src') + path)
  execFileSync('python3', ['-c', 'import os, sys\nfor p in sys.argv[1:]: os.setxattr(p, "user.label", p.encode())', ...entries])
  const backup = await runBackup(join(base, 'src'), join(base, 'work'), { host: 'h', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: ['--store', join(base, 'store')] })

  const requests: { op: string, when: string }[] = []
  let pipeWrites = 0
  const helper = FsHelper.prototype as unknown as { request: (op: string, ...rest: unknown[]) => Promise<void>, flush: () => void }
  const { request, flush } = helper
  helper.request = function (this: unknown, op: string, ...rest: unknown[]) {
    requests.push({ op, when: String(rest[3] ?? 'now') })
    return request.call(this, op, ...rest)
  }
  helper.flush = function (this: { outgoing: Buffer[] }) {
    if (this.outgoing.length > 0) pipeWrites++
    flush.call(this)
  }
  t.teardown(() => { helper.request = request; helper.flush = flush })

  const io = testIO()
  t.equal(await runStage(makeRestoreStage({ confirm: null }), ['--store', join(base, 'store'), '--key', backup.key, '--target', join(base, 'target')], io), 0, io.err())
  t.same(await compareTrees(join(base, 'src'), join(base, 'target', base, 'src')), [], 'every attribute restored')
  t.match(io.records().at(-1)!.counts, { xattrsSet: 304, written: 301 })
  const attributes = requests.filter((r) => r.op === 'X')
  t.equal(attributes.length, 304)
  t.equal(attributes.filter((r) => r.when === 'later').length, 301, 'the files\' go out later, batched; only the directories\' are waited for')
  // How many batches depends on the machine's speed (a batch waits 20 ms at most): said, not asserted.
  t.comment(`${pipeWrites} pipe writes to the helper for 304 attributes`)
})
