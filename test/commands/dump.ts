import t from 'tap'
import { createHash } from 'node:crypto'
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { makeDumpCommand } from '../../src/commands/dump.js'
import { LocalStore } from '../../src/store/local-store.js'
import { TEST_RETAIN_UNTIL, writeManifest } from '../helpers/backup-fixture.js'
import { runIn, SAMPLE_HOST, sampleBackup, SNAPSHOT_TEXT } from '../helpers/sample-backup.js'
import { LATIN1_NAME, under } from '../helpers/sample-tree.js'

// s3-sysbackup dump on a real backup of the sample tree (large files
// compressible and not, hard links, a name that is not UTF-8, a snapshot)
// in a local store; tampered and missing content in copies of the store.

const base = t.testdir({})
const { src, storeDir, manifest } = await sampleBackup(base)
const dump = makeDumpCommand({ host: SAMPLE_HOST })
const run = (...args: string[]) => runIn(dump, [...args, '--store', storeDir])
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const keyOf = (rel: string) => manifest.records.find((r) => r.path === join(src, rel))!.key as string

/** The directory of a content object in a local store (DIR/<key>/<versionId>). */
const objectDir = (store: string, key: string) => join(store, key)

t.test('the content of a file, byte for byte, streamed: small, empty, large (gzip-stored and not)', async (t) => {
  const big = await LocalStore.open(storeDir).head(keyOf('big/text.log'))
  t.equal(big?.contentEncoding, 'gzip', 'the compressible large file is stored gzip')
  const random = await LocalStore.open(storeDir).head(keyOf('big/random.bin'))
  t.not(random?.contentEncoding, 'gzip', 'the random one is not')
  for (const rel of ['etc/plain.conf', 'etc/empty', 'etc/secret', 'big/text.log', 'big/random.bin']) {
    const r = await run(join(src, rel))
    t.equal(r.status, 0, `${rel}: ${r.err}`)
    t.equal(r.err, '')
    t.ok(r.outBytes.equals(readFileSync(join(src, rel))), `${rel}: the same bytes`)
    if (rel.startsWith('big/')) t.ok(r.writes > 4, `${rel}: written in chunks as it streams (${r.writes}), not held whole`)
  }
})

t.test('every member of a group of hard links', async (t) => {
  const expected = readFileSync(join(src, 'links/a/h1'))
  for (const rel of ['links/a/h1', 'links/b/h2', 'links/h3']) {
    const r = await run(join(src, rel))
    t.equal(r.status, 0, r.err)
    t.ok(r.outBytes.equals(expected), rel)
  }
})

t.test('names: not UTF-8 (as ls shows it, \\xNN), with a newline (as is, or as ls shows it)', async (t) => {
  const latin1 = await run(`${src}/names/caf\\xe9\\xff.txt`)
  t.equal(latin1.status, 0, latin1.err)
  t.ok(latin1.outBytes.equals(readFileSync(under(join(src, 'names'), LATIN1_NAME))))
  for (const given of [`${src}/names/new\nline`, `${src}/names/new\\nline`]) {
    const r = await run(given)
    t.equal(r.status, 0, r.err)
    t.equal(r.out, 'newline\n')
  }
  const lossy = await run(`${src}/names/caf\uFFFD\uFFFD.txt`)
  t.equal(lossy.status, 2)
  t.match(lossy.err, /must be given as s3-sysbackup ls shows it, with \\xNN escapes\n$/)
})

t.test('snapshot:NAME: the snapshot\'s dump', async (t) => {
  const r = await run('snapshot:pgdump')
  t.equal(r.status, 0, r.err)
  t.equal(r.out, SNAPSHOT_TEXT)
  const missing = await run('snapshot:mysql')
  t.equal(missing.status, 2)
  t.equal(missing.err, `s3-sysbackup dump: snapshot:mysql: not in backup ${manifest.key} (see s3-sysbackup ls)\n`)
})

t.test('--output FILE: written whole once verified, mode 0600, replacing FILE; - is standard output', async (t) => {
  const dir = t.testdir({ 'old.conf': 'the old content\n' })
  const out = join(dir, 'plain.conf')
  const r = await run(join(src, 'big/text.log'), '--output', out)
  t.equal(r.status, 0, r.err)
  t.equal(r.out, '')
  t.ok(readFileSync(out).equals(readFileSync(join(src, 'big/text.log'))))
  t.equal(statSync(out).mode & 0o777, 0o600)
  chmodSync(join(dir, 'old.conf'), 0o644)
  const replaced = await run(join(src, 'etc/secret'), '-o', join(dir, 'old.conf'))
  t.equal(replaced.status, 0, replaced.err)
  t.equal(readFileSync(join(dir, 'old.conf'), 'utf8'), 'the secret\n')
  t.equal(statSync(join(dir, 'old.conf')).mode & 0o777, 0o600, 'an existing file is replaced by one of mode 0600')
  t.same(readdirSync(dir).sort(), ['old.conf', 'plain.conf'], 'no temporary file left')
  const dash = await run(join(src, 'etc/secret'), '-o', '-')
  t.equal(dash.out, 'the secret\n')
})

t.test('what has no content to write: exit 2, one line, nothing written', async (t) => {
  const cases: [string, string][] = [
    [join(src, 'etc'), `${src}/etc: is a directory in backup ${manifest.key}, not a file (see s3-sysbackup ls '${src}/etc')`],
    [join(src, 'sym/relative'), `${src}/sym/relative: is a symbolic link in backup ${manifest.key}, to ../etc/plain.conf: dump the file it points to`],
    [join(src, 'dev/fifo'), `${src}/dev/fifo: is a named pipe (FIFO) in backup ${manifest.key}: it has no content`],
    [join(src, 'dev/socket'), `${src}/dev/socket: is a socket in backup ${manifest.key}: it has no content`],
    [join(src, 'dev/null-ish'), `${src}/dev/null-ish: is a character device in backup ${manifest.key}: it has no content`],
    [join(src, 'etc/nothing-here'), `${src}/etc/nothing-here: not in backup ${manifest.key} (see s3-sysbackup ls)`],
  ]
  const out = join(t.testdir({}), 'out')
  for (const [path, message] of cases) {
    const r = await run(path, '--output', out)
    t.equal(r.status, 2, path)
    t.equal(r.err, `s3-sysbackup dump: ${message}\n`)
    t.equal(r.out, '')
    t.notOk(statSync(out, { throwIfNoEntry: false }), 'no output file')
  }
})

t.test('usage errors: nothing is read', async (t) => {
  const dir = t.testdir({})
  const cases: [string[], RegExp][] = [
    [[], /^s3-sysbackup dump: give one PATH \(as s3-sysbackup ls shows it\) or snapshot:NAME; got 0\n$/],
    [['/a', '/b'], /give one PATH .*; got 2/],
    [['etc/hosts'], /"etc\/hosts" is not an absolute path: give PATH as in the backup, from \/ \(see s3-sysbackup ls\)/],
    [['snapshot:'], /give the snapshot's name after "snapshot:"/],
    [[join(src, 'etc/plain.conf'), '--output', dir], /--output .*: is a directory; give the file to write/],
    [[join(src, 'etc/plain.conf'), '--output', join(dir, 'no/such/dir/file')], /--output .*: there is no directory .*no\/such\/dir$/m],
    [[join(src, 'etc/plain.conf'), '--key', manifest.key, '--at', '2026-11-26'], /--key names one manifest exactly/],
    [[join(src, 'etc/plain.conf'), '--role-arn', 'arn:aws:iam::1:role/x'], /--role-arn is used only with --creds FILE/],
  ]
  for (const [args, why] of cases) {
    const r = await run(...args)
    t.equal(r.status, 2, args.join(' '))
    t.match(r.err, why)
    t.equal(r.err.split('\n').length, 2, 'one line')
    t.equal(r.out, '')
  }
})

t.test('content that does not match its key: exit 3; on stdout the message says so, with --output nothing is left', async (t) => {
  const base = t.testdir({ out: { existing: 'keep me\n' } })
  const copy = join(base, 'store')
  cpSync(storeDir, copy, { recursive: true })
  const tamper = (rel: string) => {
    const dir = objectDir(copy, keyOf(rel))
    const version = readdirSync(dir).find((n) => !n.endsWith('.json'))!
    const file = join(dir, version)
    chmodSync(file, 0o644)
    const bytes = readFileSync(file)
    const middle = bytes.length >> 1
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle)
    writeFileSync(file, bytes)
  }
  for (const rel of ['etc/plain.conf', 'big/random.bin', 'big/text.log']) tamper(rel)
  const dir = join(base, 'out')
  for (const rel of ['etc/plain.conf', 'big/random.bin', 'big/text.log']) {
    const r = await runIn(dump, [join(src, rel), '--store', copy])
    t.equal(r.status, 3, rel)
    t.match(r.err, new RegExp(`^s3-sysbackup dump: ${src}/${rel}: .*(hashes to|does not decode as the gzip).*; the ${r.outBytes.length} bytes written to standard output are NOT the file: discard them\\n$`))
    const o = await runIn(dump, [join(src, rel), '--store', copy, '--output', join(dir, 'existing')])
    t.equal(o.status, 3)
    t.match(o.err, new RegExp(`^s3-sysbackup dump: ${src}/${rel}: .*; ${dir}/existing was not written\\n$`))
    t.equal(readFileSync(join(dir, 'existing'), 'utf8'), 'keep me\n', 'FILE untouched')
    const fresh = await runIn(dump, [join(src, rel), '--store', copy, '--output', join(dir, 'fresh')])
    t.equal(fresh.status, 3)
    t.same(readdirSync(dir), ['existing'], 'no file, no temporary file')
  }
  t.equal(sha(readFileSync(join(src, 'big/random.bin'))), keyOf('big/random.bin').slice('content/'.length), 'the source was not what changed')
})

t.test('content missing from the store: exit 3', async (t) => {
  const copy = join(t.testdir({}), 'store')
  cpSync(storeDir, copy, { recursive: true })
  rmSync(objectDir(copy, keyOf('etc/plain.conf')), { recursive: true, force: true })
  const r = await runIn(dump, [join(src, 'etc/plain.conf'), '--store', copy])
  t.equal(r.status, 3)
  t.match(r.err, new RegExp(`^s3-sysbackup dump: ${src}/etc/plain.conf: its content is missing from the store \\(GetObject .*: NoSuchVersion: .*\\)\\n$`))
  t.equal(r.out, '')
})

t.test('hand-made manifests: a hard link without content of its own; reading stops once past PATH', async (t) => {
  const dir = t.testdir({})
  const store = LocalStore.open(join(dir, 'store'), { create: true })
  const content = Buffer.from('the content of the inode\n')
  const key = `content/${sha(content)}`
  const { versionId } = await store.putBuffer(key, content, { lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL, metadata: { size: String(content.length), encoding: 'identity' } })
  const file = (path: string, extra: Record<string, unknown> = {}) => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', storageId: `1:${path}`, nlink: 1, size: content.length, ...extra })
  const linked = { storageId: '1:77', nlink: 3 }
  const entries = [
    file('/a/first', { ...linked }),
    file('/a/second', { ...linked, key, versionId, sha256: sha(content) }),
    file('/a/third', { ...linked }),
    file('/b/unstored'),
  ]
  await writeManifest(store, entries, { host: 'w', runTime: new Date('2026-11-26T08:00:00Z') })
  const at = (...args: string[]) => runIn(dump, [...args, '--host', 'w', '--store', join(dir, 'store')])
  for (const path of ['/a/first', '/a/second', '/a/third']) {
    const r = await at(path)
    t.equal(r.status, 0, r.err)
    t.equal(r.out, content.toString(), path)
    t.equal(r.err, path === '/a/second' ? '' : `s3-sysbackup dump: ${path} has no content of its own in the backup; writing that of /a/second, a hard link of the same file\n`)
  }
  const unstored = await at('/b/unstored')
  t.equal(unstored.status, 2)
  t.equal(unstored.err, 's3-sysbackup dump: /b/unstored: the backup manifests/w/20261126T080000Z.ndjson.gz did not store its content (the entry has no "key"; its log says why)\n')

  // Cut off after /a/second: what is before the cut is found (the reading stopped before it); what is after is an error of the manifest.
  const lines = (await writeManifest(store, entries, { host: 'w', runTime: new Date('2026-11-27T08:00:00Z') })).text.split('\n')
  await store.putBuffer('manifests/w/20261128T080000Z.ndjson.gz', gzipSync(lines.slice(0, 3).join('\n') + '\n'), { lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL })
  const before = await runIn(dump, ['/a/second', '--key', 'manifests/w/20261128T080000Z.ndjson.gz', '--store', join(dir, 'store')])
  t.equal(before.status, 0, before.err)
  t.equal(before.out, content.toString())
  const after = await runIn(dump, ['/b/unstored', '--key', 'manifests/w/20261128T080000Z.ndjson.gz', '--store', join(dir, 'store')])
  t.equal(after.status, 3)
  t.equal(after.err, 's3-sysbackup dump: manifests/w/20261128T080000Z.ndjson.gz: ended at line 3 without the trailer of sysbackup-manifest: the manifest is cut off: /b/unstored is not in what could be read\n')
})

t.test('--host, --at and --key choose the backup: what the file was then', async (t) => {
  const dir = t.testdir({})
  const store = LocalStore.open(join(dir, 'store'), { create: true })
  const version = async (text: string, runTime: string) => {
    const content = Buffer.from(text)
    const key = `content/${sha(content)}`
    const { versionId } = await store.putBuffer(key, content, { lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL, metadata: { size: String(content.length), encoding: 'identity' } })
    const entry = { type: 'file', path: '/etc/nginx/nginx.conf', mode: '0644', uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', storageId: '1:2', nlink: 1, size: content.length, key, versionId, sha256: sha(content) }
    return writeManifest(store, [entry], { host: 'web1', runTime: new Date(runTime) })
  }
  const tuesday = await version('worker_processes 2;\n', '2026-11-24T03:00:00Z')
  await version('worker_processes 8;\n', '2026-11-25T03:00:00Z')
  const at = (...args: string[]) => runIn(dump, [...args, '/etc/nginx/nginx.conf', '--store', join(dir, 'store')])
  t.equal((await at('--host', 'web1')).out, 'worker_processes 8;\n', 'the newest complete backup')
  t.equal((await at('--host', 'web1', '--at', '2026-11-24')).out, 'worker_processes 2;\n')
  t.equal((await at('--key', tuesday.key)).out, 'worker_processes 2;\n')
  const none = await at('--host', 'web1', '--at', '2026-11-23')
  t.equal(none.status, 2)
  t.match(none.err, /^s3-sysbackup dump: no complete backup of host "web1" at or before 2026-11-23T23:59:59.999Z/)
  const otherHost = await at()
  t.equal(otherHost.status, 2, 'by default this host\'s: it has none here')
  t.match(otherHost.err, /no backup of host "h1"/)
})
