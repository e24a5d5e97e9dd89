import t from 'tap'
import { join } from 'node:path'
import { runCommand } from '../../src/cli/command.js'
import { makeVerifyCommand } from '../../src/commands/verify.js'
import { LocalStore } from '../../src/store/local-store.js'
import { testIO } from '../helpers/io.js'
import { runBin } from '../helpers/bin.js'
import { verifyCases } from '../helpers/verify-cases.js'
import { localFaults, makeFaultyStore, type FaultyStore } from '../helpers/verify-faults.js'
import { writeManifest } from '../helpers/backup-fixture.js'

// s3-sysbackup verify against a local directory store, each fault made on purpose.

const scratch = t.testdir({})
const storeDir = join(scratch, 'store')
let fixture: FaultyStore | undefined

t.before(async () => {
  const inspect = LocalStore.open(storeDir, { create: true })
  fixture = await makeFaultyStore(scratch, { storeArgs: ['--store', storeDir], inspect, faults: localFaults(storeDir) })
})

const verify = makeVerifyCommand()
async function run(args: string[]) {
  const io = testIO()
  const status = await runCommand(verify, [...args, '--store', storeDir], io)
  return { status, out: io.out(), err: io.err(), records: () => io.records() }
}

verifyCases(t, () => fixture!, run)

t.test('requests of a clean verify, by kind: as S3 would be sent them', async (t) => {
  const r = await run(['--host', 'clean', '--json'])
  const summary = r.records().find((x) => x.type === 'summary')!
  // 1 manifest listing, 1 HEAD and 1 GET of the manifest, 2 version listings (content/, snapshots/clean/), 4 retention reads.
  t.same(summary.requests, { GetObject: 1, GetObjectRetention: 4, HeadObject: 1, ListObjectVersions: 2, ListObjectsV2: 1 })
  t.equal(summary.estimatedCost, Number(((3 * 0.005 + 6 * 0.0004) / 1000).toFixed(8)))
})

t.test('the bin: exit statuses 0, 1, 2 and 3 as a process', async (t) => {
  const clean = await runBin('s3-sysbackup', ['verify', '--host', 'clean', '--store', storeDir])
  t.equal(clean.status, 0, clean.stderr)
  t.match(clean.stdout, /No problems found\.\n$/)
  const faulty = await runBin('s3-sysbackup', ['verify', '--store', storeDir, '--max-age', '26h'])
  t.equal(faulty.status, 1, faulty.stderr)
  t.match(faulty.stdout, /^STALE old /m)
  t.match(faulty.stdout, /6 finding\(s\): 1 missing, 1 under-retained, 1 shadowed, 1 incomplete, 1 bad-manifest, 1 stale\.\n$/)
  const usage = await runBin('s3-sysbackup', ['verify', '--store', storeDir, '--max-age', 'soon'])
  t.equal(usage.status, 2)
  t.equal(usage.stdout, '')
  t.equal(usage.stderr, 's3-sysbackup verify: option --max-age: "soon" is not a duration (a number and a unit s, m, h, d or w, e.g. 26h)\n')
  const fatal = await runBin('s3-sysbackup', ['verify', '--store', join(scratch, 'no-such-store')])
  t.equal(fatal.status, 3)
  t.match(fatal.stderr, /^s3-sysbackup verify: .*does not exist\n$/)
})

t.test('usage errors: exit 2, one line, nothing checked', async (t) => {
  const cases: [string[], string][] = [
    [['--key', 'manifests/a/20261126T080000Z.ndjson.gz', '--host', 'a'], '--key names one manifest exactly: give it without --host, --at and --all'],
    [['--key', 'nope'], 'option --key: "nope" is not a manifest key (manifests/HOST/YYYYMMDDTHHMMSSZ[.incomplete].ndjson.gz)'],
    [['--host', 'a b'], 'option --host: "a b" is not a host name (letters, digits, ".", "_", "-")'],
    [['--read-data', '--read-data-subset', '5%'], 'give --read-data or --read-data-subset, not both'],
    [['--read-data-subset', '0%'], 'option --read-data-subset: "0%" is not a share from 0% (excluded) to 100%'],
    [['--read-data-subset', '4/3'], 'option --read-data-subset: "4/3": N/M needs 1 <= N <= M'],
    [['--read-data-subset', 'half'], 'option --read-data-subset: "half" is neither N% (e.g. 10%) nor N/M (e.g. 1/5)'],
    [['--seed', 'x'], '--seed chooses an N% sample: give it with --read-data-subset N%'],
    [['--jobs', '0'], 'option --jobs: 0 is not a whole number from 1 to 128'],
    [['--at', '2026-11-26T08:00'], ''],
    [['extra'], 'unexpected argument "extra"'],
  ]
  for (const [args, message] of cases) {
    const r = await run(args)
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.out, '')
    if (message !== '') t.equal(r.err, `s3-sysbackup verify: ${message}\n`)
    else t.match(r.err, /^s3-sysbackup verify: .+\n$/)
  }
})

t.test('a referenced version whose retention lapsed while the backup still needs it: unlocked', async (t) => {
  const inspect = LocalStore.open(storeDir)
  const { versionId } = await inspect.putBuffer(`content/${'0'.repeat(64)}`, Buffer.from('lapsed'), { lockMode: 'GOVERNANCE', retainUntil: new Date('2099-01-01T00:00:00Z') })
  await localFaults(storeDir).shortenRetention(`content/${'0'.repeat(64)}`, versionId, new Date('2026-01-01T00:00:00Z'))
  await writeManifest(inspect, [{ type: 'file', path: '/lapsed', mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 1, size: 6, key: `content/${'0'.repeat(64)}`, versionId }],
    { host: 'zz-lapsed', runTime: new Date(Date.now() - 3600_000) })
  const r = await run(['--host', 'zz-lapsed', '--json'])
  t.equal(r.status, 1)
  t.match(r.records().filter((x) => x.type === 'finding'), [{ kind: 'unlocked', host: 'zz-lapsed', key: `content/${'0'.repeat(64)}`, versionId, path: '/lapsed',
    detail: 'its retention lapsed at 2026-01-01T00:00:00.000Z; it must be retained until 2099-01-01T00:00:00.000Z' }])
})
