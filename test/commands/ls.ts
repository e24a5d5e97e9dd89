import t from 'tap'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { makeLsCommand } from '../../src/commands/ls.js'
import { decodePath, displayPath, pathBytes } from '../../src/protocol/path-codec.js'
import { isEntry, type Rec } from '../../src/protocol/records.js'
import { LocalStore } from '../../src/store/local-store.js'
import { TEST_RETAIN_UNTIL, writeManifest } from '../helpers/backup-fixture.js'
import { parseRecords } from '../helpers/io.js'
import { runIn, SAMPLE_HOST, sampleBackup } from '../helpers/sample-backup.js'
import { LATIN1_NAME, under } from '../helpers/sample-tree.js'

// s3-sysbackup ls on a real backup of the sample tree (every kind of entry,
// hard links, a name that is not UTF-8, a snapshot) in a local store.

const base = t.testdir({})
const { src, storeDir, manifest } = await sampleBackup(base)
const ls = makeLsCommand({ host: SAMPLE_HOST })
const run = (...args: string[]) => runIn(ls, [...args, '--store', storeDir])

const entries = manifest.records.filter(isEntry) as Rec[]
const snapshots = manifest.records.filter((r) => r.type === 'snapshot')
const recordAt = (rel: string) => entries.find((r) => r.path === join(src, rel))!
const shown = (r: Rec) => displayPath(decodePath(r))
const relative = (r: Rec) => typeof r.path === 'string' ? r.path.slice(src.length + 1) : ''

t.test('every entry in manifest order, then the snapshots', async (t) => {
  const r = await run()
  t.equal(r.status, 0, r.err)
  t.equal(r.err, '')
  t.equal(snapshots.length, 1)
  t.equal(r.out, [...entries.map(shown), 'snapshot:pgdump'].map((l) => l + '\n').join(''))
  t.match(r.out, `${src}/names/caf\\xe9\\xff.txt\n`, 'a name that is not UTF-8 shown with \\x escapes')
  t.match(r.out, `${src}/names/new\\nline\n`, 'a newline in a name does not break the line')
})

t.test('PATTERNs: restore --include globs; a directory lists what is beneath it; snapshot:GLOB', async (t) => {
  const lines = async (...patterns: string[]) => {
    const r = await run(...patterns)
    t.equal(r.status, 0, `${patterns.join(' ')}: ${r.err}`)
    return r.out.split('\n').filter(Boolean)
  }
  t.same(await lines(join(src, 'links')), ['links', 'links/a', 'links/a/h1', 'links/b', 'links/b/h2', 'links/h3'].map((p) => join(src, p)))
  t.same(await lines('*.conf'), [join(src, 'etc/plain.conf')], 'a pattern without / matches any component')
  t.same(await lines(`${src}/**/h?`), ['links/a/h1', 'links/b/h2', 'links/h3'].map((p) => join(src, p)))
  t.same(await lines(`${src}/bin/*-tool`, `${src}/etc/[e]mpty`), ['bin/setgid-tool', 'bin/setuid-tool', 'etc/empty'].map((p) => join(src, p)),
    'several patterns: manifest order, each entry once')
  t.same(await lines('snapshot:*'), ['snapshot:pgdump'], 'snapshot:* lists the snapshots, no entry')
  t.same(await lines('snapshot:pg*', '*.conf'), [join(src, 'etc/plain.conf'), 'snapshot:pgdump'])
  t.same(await lines(join(src, 'etc/empty')), [join(src, 'etc/empty')], 'no snapshot when no pattern asks for one')

  const none = await run('*.nothing', 'snapshot:mysql')
  t.equal(none.status, 1)
  t.equal(none.out, '')
  t.equal(none.err, `s3-sysbackup ls: nothing in ${manifest.key} matches "*.nothing", "snapshot:mysql"\n`)
  const escaped = await run('\\snapshot:pgdump')
  t.equal(escaped.status, 1, '\\snapshot: is a path pattern, for a file of that name')
})

t.test('--long: type and permissions, owner, group, size, time (UTC), path, symlink target', async (t) => {
  const modes: Record<string, [mode: string, suffix?: string]> = {
    'bin': ['drwxr-xr-x'],
    'bin/setgid-tool': ['-rwxr-sr-x'],
    'bin/setuid-tool': ['-rwsr-xr-x'],
    'big/text.log': ['-rw-r--r--'],
    'dev': ['drwxr-xr-x'],
    'dev/fifo': ['prw--w----'],
    'dev/null-ish': ['crw-rw-rw-'],
    'dev/socket': ['srwxr-xr-x'],
    'etc/odd-owner': ['-rw-r-----'],
    'sym': ['drwxr-xr-x'],
    'sym/absolute': ['lrwxrwxrwx', ' -> /etc/passwd'],
    'sym/dangling': ['lrwxrwxrwx', ' -> nowhere/at/all'],
    'sym/relative': ['lrwxrwxrwx', ' -> ../etc/plain.conf'],
    'tmp': ['drwxrwxrwt'],
  }
  const r = await run('--long', ...['bin', 'big/text.log', 'dev', 'etc/odd-owner', 'sym', 'tmp'].map((p) => join(src, p)), 'snapshot:*')
  t.equal(r.status, 0, r.err)
  const minute = (ns: unknown) => new Date(Number(BigInt(ns as string) / 1_000_000n)).toISOString().slice(0, 16).replace('T', ' ')
  const line = (mode: string, owner: string, group: string, size: string, time: string, name: string) =>
    `${mode} ${owner.padEnd(8)} ${group.padEnd(8)} ${size.padStart(10)} ${time} ${name}`
  const expected = entries.filter((e) => Object.hasOwn(modes, relative(e))).map((e) => {
    const [mode, suffix = ''] = modes[relative(e)]!
    const size = e.type === 'file' ? String(e.size) : relative(e) === 'dev/null-ish' ? '1, 3' : '0'
    return line(mode, (e.user as string | undefined) ?? String(e.uid), (e.group as string | undefined) ?? String(e.gid), size, minute(e.mtimeNs), shown(e) + suffix)
  })
  const snap = snapshots[0]!
  expected.push(line('snapshot  ', '-', '-', String(snap.size), (snap.startedAt as string).slice(0, 16).replace('T', ' '), 'snapshot:pgdump'))
  t.same(r.out.split('\n').filter(Boolean), expected)
  t.match(r.out, `-rw-r----- 23456    34567           300 `, 'ids without names, as numbers')
  t.match(r.out, ` ${String(3 * 1024 * 1024).padStart(10)} `, 'a file\'s size: its content bytes')
  t.match(r.out, `prw--w---- nobody   root     `, 'owner and group names')
})

t.test('--long widens a column for good when a wider value comes', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const file = (path: string, user: string, size: number) => ({ type: 'file', path, mode: '0644', uid: 1, gid: 1, user, group: 'g', mtimeNs: '0', ctimeNs: '0', storageId: `1:${path}`, nlink: 1, size })
  await writeManifest(store, [file('/a', 'short', 1), file('/b', 'a-much-longer-name', 12345678901), file('/c', 'x', 2)], { host: 'w', runTime: new Date('2026-11-26T08:00:00Z') })
  const r = await runIn(ls, ['-l', '--host', 'w', '--store', join(t.testdirName, 'store')])
  t.equal(r.out, [
    '-rw-r--r-- short    g                 1 1970-01-01 00:00 /a',
    '-rw-r--r-- a-much-longer-name g        12345678901 1970-01-01 00:00 /b',
    '-rw-r--r-- x                  g                  2 1970-01-01 00:00 /c',
    '',
  ].join('\n'))
})

t.test('-0: the exact bytes of each path, each ended by NUL', async (t) => {
  const r = await run('-0')
  t.equal(r.status, 0, r.err)
  const expected = Buffer.concat([...entries.map((e) => Buffer.concat([pathBytes(decodePath(e)), Buffer.from([0])])), Buffer.from('snapshot:pgdump\0')])
  t.ok(r.outBytes.equals(expected), 'byte for byte')
  t.ok(r.outBytes.includes(Buffer.concat([under(join(src, 'names'), LATIN1_NAME), Buffer.from([0])])), 'the name that is not UTF-8, exactly')
  const one = await run('--null', join(src, 'names/new\nline'))
  t.ok(one.outBytes.equals(Buffer.from(`${src}/names/new\nline\0`)), 'a newline stays a newline')
})

t.test('--json: the records as in the manifest', async (t) => {
  const r = await run('--json', join(src, 'links'), 'snapshot:pgdump')
  t.equal(r.status, 0, r.err)
  const wanted = [...entries.filter((e) => typeof e.path === 'string' && e.path.startsWith(join(src, 'links'))), ...snapshots]
  t.same(parseRecords(r.out), wanted)
  const lines = manifest.text.split('\n')
  for (const line of r.out.split('\n').filter(Boolean)) t.ok(lines.includes(line), 'the very line of the manifest')
  t.same(parseRecords(r.out).filter((x) => x.path === join(src, 'links/b/h2')).map((x) => [x.storageId, x.nlink]), [[recordAt('links/a/h1').storageId, 3]], 'hard links: their storageId and nlink')
})

t.test('--host, --at and --key choose the backup as restore does', async (t) => {
  const store = LocalStore.open(storeDir)
  const file = (path: string) => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', storageId: `1:${path}`, nlink: 1, size: 0 })
  const older = await writeManifest(store, [file('/older')], { host: 'web1', runTime: new Date('2026-11-20T08:00:00Z') })
  await writeManifest(store, [file('/newer')], { host: 'web1', runTime: new Date('2026-11-21T08:00:00Z') })
  const incomplete = await writeManifest(store, [file('/incomplete')], { host: 'web1', runTime: new Date('2026-11-22T08:00:00Z'), complete: false })
  t.equal((await run('--host', 'web1')).out, '/newer\n', 'the newest complete one')
  t.equal((await run('--host', 'web1', '--at', '2026-11-20')).out, '/older\n')
  t.equal((await run('--key', older.key)).out, '/older\n')
  t.equal((await run('--key', incomplete.key)).out, '/incomplete\n', 'an incomplete backup by its key')
  const none = await run('--host', 'web1', '--at', '2026-11-01')
  t.equal(none.status, 2)
  t.match(none.err, /^s3-sysbackup ls: no complete backup of host "web1" at or before 2026-11-01T23:59:59.999Z/)
})

t.test('a damaged manifest: what was read is listed, a warning says why, exit 3', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const file = (path: string) => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', storageId: `1:${path}`, nlink: 1, size: 0 })
  const good = await writeManifest(store, [file('/a'), file('/b')], { host: 'w', runTime: new Date('2026-11-26T08:00:00Z') })
  const lines = good.text.split('\n')
  const put = async (key: string, text: string) => store.putBuffer(key, gzipSync(text), { lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL })

  await put('manifests/w/20261127T080000Z.ndjson.gz', lines.slice(0, 3).join('\n') + '\n')
  const cut = await runIn(ls, ['--key', 'manifests/w/20261127T080000Z.ndjson.gz', '--store', join(t.testdirName, 'store')])
  t.equal(cut.status, 3)
  t.equal(cut.out, '/a\n/b\n')
  t.match(cut.err, /^s3-sysbackup ls: warning: manifests\/w\/20261127T080000Z.ndjson.gz: ended at line 3 without the trailer of sysbackup-manifest: the manifest is cut off; the listing may be incomplete\n$/)

  await put('manifests/w/20261128T080000Z.ndjson.gz', good.text.replace('"/b"', '"/B"'))
  const altered = await runIn(ls, ['--key', 'manifests/w/20261128T080000Z.ndjson.gz', '--store', join(t.testdirName, 'store')])
  t.equal(altered.status, 3)
  t.equal(altered.out, '/a\n/B\n')
  t.match(altered.err, /its digest does not match its lines; the listing may be incomplete/)

  await put('manifests/w/20261129T080000Z.ndjson.gz', good.text.replace('{"type":"file","path":"/b"', 'not json {"type":"file","path":"/b"'))
  const garbled = await runIn(ls, ['--key', 'manifests/w/20261129T080000Z.ndjson.gz', '--store', join(t.testdirName, 'store')])
  t.equal(garbled.status, 3)
  t.equal(garbled.out, '/a\n')
  t.match(garbled.err, /^s3-sysbackup ls: warning: manifests\/w\/20261129T080000Z.ndjson.gz:3: invalid JSON .*; line skipped\n/)
})

t.test('usage errors: nothing is read, nothing written', async (t) => {
  const cases: [string[], RegExp][] = [
    [['-l', '-0'], /^s3-sysbackup ls: --long and --null do not go together: give one output format\n$/],
    [['--null', '--json'], /--null and --json do not go together/],
    [['--long', '--json'], /--long and --json do not go together/],
    [['/a['], /^s3-sysbackup ls: PATTERN: pattern "\/a\[" has "\[" without "\]"\n$/],
    [['snapshot:'], /PATTERN: empty pattern/],
    [['--key', manifest.key, '--host', 'h1'], /--key names one manifest exactly/],
    [['--at', 'yesterday'], /--at: "yesterday" is not an ISO-8601 time/],
    [['--host', 'nobody-here'], /no backup of host "nobody-here"/],
    [['--password-fd', '3'], /--password-fd is used only with --creds FILE/],
    [['--creds', '/nonexistent.creds'], /give --creds FILE or --store DIR, not both/],
  ]
  for (const [args, why] of cases) {
    const r = await run(...args)
    t.equal(r.status, 2, args.join(' '))
    t.match(r.err, why)
    t.equal(r.out, '')
  }
})
