import t, { type Test } from 'tap'
import { join } from 'node:path'
import { runCommand } from '../../src/cli/command.js'
import { makeListCommand } from '../../src/commands/list.js'
import { LocalStore } from '../../src/store/local-store.js'
import { DAY_MS, writeManifest } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'

const list = makeListCommand({ host: 'web1' })
const dir = (path: string) => ({ type: 'dir', path, mode: '0755', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 2 })
const file = (path: string, size: number) => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: `1:${path}`, nlink: 1, size })

async function fixture(t: Test) {
  const storeDir = join(t.testdir({}), 'store')
  const store = LocalStore.open(storeDir, { create: true })
  // Retention far ahead (a store refuses a date in the past), a different one each.
  await writeManifest(store, [dir('/'), file('/a', 1000)], { host: 'web1', runTime: new Date('2026-11-24T08:00:00Z'), retainUntil: new Date('2099-12-08T08:00:00Z') })
  await writeManifest(store, [dir('/'), file('/a', 1000), file('/b', 2 * 1024 * 1024)], { host: 'web1', runTime: new Date('2026-11-25T08:00:00Z'), retainUntil: new Date('2099-12-09T08:00:00Z') })
  await writeManifest(store, [dir('/')], { host: 'web1', runTime: new Date('2026-11-26T08:00:00Z'), complete: false, retainUntil: new Date('2099-12-10T08:00:00Z') })
  await writeManifest(store, [dir('/'), dir('/srv')], { host: 'db1', runTime: new Date('2026-11-26T03:00:00Z'), retainUntil: new Date('2099-12-10T03:00:00Z') })
  return { storeDir, store }
}

async function run(args: string[]) {
  const io = testIO()
  const status = await runCommand(list, args, io)
  return { status, out: io.out(), err: io.err(), records: () => io.records() }
}

t.test('the table: every backup by host and time, "*" on the one restore would choose', async (t) => {
  const { storeDir } = await fixture(t)
  const r = await run(['--store', storeDir])
  t.equal(r.status, 0, r.err)
  t.equal(r.err, '')
  t.equal(r.out, [
    '   HOST  TIME                  STATUS      ENTRIES    BYTES  RETAINED UNTIL        KEY',
    '   db1   2026-11-26T03:00:00Z  complete          2      0 B  2099-12-10T03:00:00Z  manifests/db1/20261126T030000Z.ndjson.gz',
    '   web1  2026-11-24T08:00:00Z  complete          2   1000 B  2099-12-08T08:00:00Z  manifests/web1/20261124T080000Z.ndjson.gz',
    '*  web1  2026-11-25T08:00:00Z  complete          3  2.0 MiB  2099-12-09T08:00:00Z  manifests/web1/20261125T080000Z.ndjson.gz',
    '   web1  2026-11-26T08:00:00Z  incomplete        1      0 B  2099-12-10T08:00:00Z  manifests/web1/20261126T080000Z.incomplete.ndjson.gz',
    '',
  ].join('\n'))
})

t.test('--json: one record per backup, every field', async (t) => {
  const { storeDir } = await fixture(t)
  const r = await run(['--store', storeDir, '--json', '--host', 'web1'])
  t.equal(r.status, 0, r.err)
  const recs = r.records()
  t.equal(recs.length, 3)
  t.match(recs[1], {
    type: 'backup', key: 'manifests/web1/20261125T080000Z.ndjson.gz', host: 'web1', runTime: '2026-11-25T08:00:00.000Z', complete: true,
    entries: 3, files: 2, bytes: 2 * 1024 * 1024 + 1000, retainUntil: '2099-12-09T08:00:00.000Z',
    lockMode: 'GOVERNANCE', manifestBytes: Number, versionId: String, chosen: true,
  })
  t.same(recs.map((x) => x.chosen), [false, true, false])
  t.same(recs.map((x) => x.complete), [true, true, false])
})

t.test('--host, --at and --key narrow the list; the mark follows the same rule', async (t) => {
  const { storeDir } = await fixture(t)
  const at = await run(['--store', storeDir, '--host', 'web1', '--at', '2026-11-24', '--json'])
  t.same(at.records().map((x) => [x.key, x.chosen]), [['manifests/web1/20261124T080000Z.ndjson.gz', true]])
  const db = await run(['--store', storeDir, '--host', 'db1', '--json'])
  t.same(db.records().map((x) => [x.host, x.chosen]), [['db1', true]])
  const key = await run(['--store', storeDir, '--key', 'manifests/web1/20261126T080000Z.incomplete.ndjson.gz', '--json'])
  t.same(key.records().map((x) => [x.key, x.complete, x.chosen]), [['manifests/web1/20261126T080000Z.incomplete.ndjson.gz', false, true]])
  const none = await run(['--store', storeDir, '--host', 'mail'])
  t.equal(none.status, 0)
  t.equal(none.out, '')
  t.match(none.err, /^s3-sysbackup list: no backups of host "mail" in file:/)
})

t.test('objects under manifests/ that are not manifests are reported, not listed', async (t) => {
  const { storeDir, store } = await fixture(t)
  await store.putBuffer('manifests/web1/README', Buffer.from('x'), { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY_MS) })
  const r = await run(['--store', storeDir, '--json'])
  t.equal(r.records().length, 4)
  t.equal(r.err, 's3-sysbackup list: warning: 1 object(s) under manifests/ are not manifest keys and are not listed (first: manifests/web1/README)\n')
})

t.test('usage errors', async (t) => {
  const { storeDir } = await fixture(t)
  const cases: [string[], RegExp][] = [
    [['--key', 'manifests/web1/20261124T080000Z.ndjson.gz', '--host', 'web1'], /--key names one manifest exactly/],
    [['--key', 'backup-1'], /option --key: "backup-1" is not a manifest key/],
    [['--at', 'tomorrow'], /--at: "tomorrow" is not an ISO-8601 time with a zone/],
    [['--host', 'a b'], /option --host: "a b" is not a host name/],
    [['--password-fd', '3'], /--password-fd is used only with --creds FILE/],
    [['extra'], /unexpected argument "extra"/],
  ]
  for (const [args, why] of cases) {
    const r = await run(['--store', storeDir, ...args])
    t.equal(r.status, 2, args.join(' '))
    t.match(r.err, why)
    t.equal(r.out, '')
  }
  const missing = await run(['--store', join(storeDir, 'nope')])
  t.equal(missing.status, 3)
  t.match(missing.err, /^s3-sysbackup list: open file:.*nope: NoSuchStore: /)
})
