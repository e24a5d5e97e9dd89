/**
 * sysbackup-snap in-process (runStage), with real snapshotter scripts,
 * against a local directory store and an Object-Lock bucket on moto.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { runStage } from '../../../src/cli/stage.js'
import type { Rec } from '../../../src/protocol/records.js'
import { MIN_PART_SIZE } from '../../../src/store/parts.js'
import type { Store } from '../../../src/store/store.js'
import { keyTimestamp } from '../../../src/stages/run-identity.js'
import { makeSnapStage } from '../../../src/stages/snap/snap-stage.js'
import { parseRecords, testIO, type TestIO } from '../../helpers/io.js'
import { LOCAL_STORE, motoStore, type FreshStore, type StoreKind } from '../../helpers/store-kinds.js'

const DAY = 86_400_000
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')
/** Whole seconds, so the key timestamp and the ISO time say the same. */
const RUN_TIME = new Date(Math.floor(Date.now() / 1000) * 1000)
const R = new Date(RUN_TIME.getTime() + 14 * DAY)
const RUN_ARGS = ['--host', 'testhost', '--run-time', RUN_TIME.toISOString()]
const keyOf = (name: string) => `snapshots/testhost/${keyTimestamp(RUN_TIME)}-${name}`

/** Small parts, so a few MiB make a multipart upload. */
const stage = makeSnapStage({ storeOptions: { partSize: MIN_PART_SIZE } })

/** Writes bash snapshotters into the configuration's snapshots.d. */
function snapshotters(configDir: string, scripts: Record<string, string>): void {
  mkdirSync(join(configDir, 'snapshots.d'), { recursive: true })
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(configDir, 'snapshots.d', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 })
  }
}

interface Result { status: number, io: TestIO, out: Rec[], trailer: Rec }

async function run(configDir: string, args: string[] = []): Promise<Result> {
  const io = testIO('')
  const status = await runStage(stage, ['--config', configDir, ...RUN_ARGS, ...args], io)
  const out = io.records()
  return { status, io, out, trailer: out.at(-1)! }
}

async function versions(store: Store, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const page of store.listVersions(prefix)) for (const v of page) keys.push(v.key)
  return keys
}

async function body(store: Store, key: string, versionId: string): Promise<Buffer> {
  const { body } = await store.get(key, versionId)
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Whether process `pid` is running (a zombie waiting to be reaped is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** What `yes 0123456789abcdef | head -c N` writes. */
function yesBytes(n: number): Buffer {
  const line = Buffer.from('0123456789abcdef\n')
  return Buffer.alloc(n, line)
}

const kinds: StoreKind[] = [LOCAL_STORE, motoStore(t)]

for (const kind of kinds) {
  t.test(kind.name, async (t) => {
    const fresh = (t: Test): Promise<FreshStore> => kind.fresh(t)

    t.test('description and restore command in the record and the object metadata; the fd protocol', async (t) => {
      const s = await fresh(t)
      snapshotters(s.configDir, {
        '10-db': [
          'echo "Dump of the demo database"',
          'echo "taken with pg_dump  "',
          'echo "::restore-through:: psql -d demo"',
          'printf "snapshot written to fd %s" "$1" >&${1}',
        ].join('\n'),
      })
      const r = await run(s.configDir)
      t.equal(r.status, 0, r.io.err())
      t.equal(r.io.err(), '')
      t.match(r.out[0], { type: 'header', producer: 'sysbackup-snap', host: 'testhost', runTime: RUN_TIME.toISOString(), retainUntil: R.toISOString() })
      const content = 'snapshot written to fd 3'
      const snap = r.out.find((x) => x.type === 'snapshot')!
      t.match(snap, {
        name: '10-db', key: keyOf('10-db'), size: content.length, sha256: sha256(content),
        description: 'Dump of the demo database\ntaken with pg_dump  ', restoreThrough: 'psql -d demo', retainUntil: R.toISOString(),
      })
      t.notOk('descriptionB64' in snap, 'no B64 form for UTF-8 text')
      const store = await s.open()
      t.equal((await body(store, keyOf('10-db'), snap.versionId as string)).toString(), content)
      const info = (await store.head(keyOf('10-db'), snap.versionId as string))!
      t.same(info.metadata, {
        description: 'Dump of the demo database%0Ataken with pg_dump%20%20',
        'restore-through': 'psql -d demo',
        sha256: sha256(content),
        size: String(content.length),
      })
      t.equal(info.lockMode, 'GOVERNANCE')
      t.equal(info.retainUntil?.toISOString(), R.toISOString(), 'locked until exactly R')
      t.match(r.trailer, { type: 'trailer', ok: true, counts: { snapshotters: 1, snapshots: 1, failed: 0, bytes: content.length, 'req.PutObject': 1 } })
    })

    t.test('a snapshotter that fails or is killed: an error record, and nothing stored', async (t) => {
      const s = await fresh(t)
      snapshotters(s.configDir, {
        '10-exits': 'echo "half a dump" >&$1; echo "described anyway"; exit 3',
        '20-killed': 'echo "partial" >&$1; kill -9 $$',
        '30-good': 'echo good >&$1',
      })
      const r = await run(s.configDir)
      t.equal(r.status, 1)
      const problems = r.out.filter((x) => x.type === 'error')
      t.match(problems, [
        { stage: 'sysbackup-snap', path: join(s.configDir, 'snapshots.d/10-exits'), message: 'snapshotter exited with status 3; no snapshot was stored' },
        { path: join(s.configDir, 'snapshots.d/20-killed'), message: 'snapshotter was killed by SIGKILL; no snapshot was stored' },
      ])
      t.same(r.out.filter((x) => x.type === 'snapshot').map((x) => x.name), ['30-good'], 'the next one still runs')
      t.same(await versions(await s.open(), 'snapshots/'), [keyOf('30-good')], 'no object for the failed ones')
      t.match(r.trailer, { ok: false, reason: '2 error(s)', counts: { snapshotters: 3, snapshots: 1, failed: 2, errors: 2 } })
      t.match(r.io.err(), /10-exits: snapshotter exited with status 3; no snapshot was stored\n/)
    })

    t.test('a snapshotter that runs out of time is killed with its children: an error, nothing stored', async (t) => {
      const s = await fresh(t)
      const pidFile = join(t.testdirName, 'child.pid')
      snapshotters(s.configDir, { '10-slow': `echo started >&$1; sleep 300 & echo $! > ${pidFile}; wait` })
      const started = Date.now()
      const r = await run(s.configDir, ['--timeout', '0.5'])
      t.ok(Date.now() - started < 10_000, 'did not wait for the sleep')
      t.equal(r.status, 1)
      t.match(r.out.find((x) => x.type === 'error'), { code: 'ETIMEDOUT', message: 'snapshotter did not finish within 0.5 seconds and was killed; no snapshot was stored' })
      t.same(await versions(await s.open(), 'snapshots/'), [])
      const pid = Number(readFileSync(pidFile, 'utf8'))
      // Killed, it may linger a moment as a zombie until it is reaped.
      for (let i = 0; i < 40 && alive(pid); i++) await sleep(50)
      t.notOk(alive(pid), 'the sleep it started is gone too')
    })

    t.test('a big snapshot is streamed in parts; a big one that fails leaves nothing, not even parts', async (t) => {
      const s = await fresh(t)
      const size = 2 * MIN_PART_SIZE + 12345
      snapshotters(s.configDir, {
        '10-big': `echo "before"; yes 0123456789abcdef | head -c ${size} >&$1; echo "::restore-through:: cat > /dev/null"; echo "after"`,
        '20-big-fails': `yes 0123456789abcdef | head -c ${size} >&$1; exit 1`,
      })
      const r = await run(s.configDir)
      t.equal(r.status, 1)
      const snap = r.out.find((x) => x.type === 'snapshot')!
      t.match(snap, { name: '10-big', size, sha256: sha256(yesBytes(size)), description: 'before\nafter', restoreThrough: 'cat > /dev/null' })
      const store = await s.open()
      t.ok((await body(store, keyOf('10-big'), snap.versionId as string)).equals(yesBytes(size)), 'stored byte for byte')
      const info = (await store.head(keyOf('10-big'), snap.versionId as string))!
      t.same(info.metadata, { description: 'before' }, 'streamed: what was printed before the first part')
      t.equal(info.retainUntil?.toISOString(), R.toISOString(), 'locked until R, multipart too')
      t.match(r.out.filter((x) => x.type === 'warning'), [{ message: /streamed before the program had finished printing its description/ }])
      t.match(r.out.find((x) => x.type === 'error'), { message: 'snapshotter exited with status 1; no snapshot was stored' })
      t.same(await versions(store, 'snapshots/'), [keyOf('10-big')], 'the failed one left no version')
      t.equal(await s.pendingUploads(), 0, 'and no multipart upload')
      t.match(r.trailer.counts, { 'req.CreateMultipartUpload': 2, 'req.UploadPart': 6, 'req.CompleteMultipartUpload': 1, 'req.AbortMultipartUpload': 1 })
    })

    t.test('a description that is not UTF-8, on several lines; the last restore line wins', async (t) => {
      const s = await fresh(t)
      snapshotters(s.configDir, {
        '10-latin1': [
          "printf '::restore-through:: first\\n'",
          "printf 'caf\\xe9 au lait\\r\\nline two\\n\\n'",
          "printf '::restore-through::\\tzcat | mysql --database=caf\\xe9\\r\\n'",
          'printf x >&$1',
        ].join('\n'),
      })
      const r = await run(s.configDir)
      t.equal(r.status, 0, r.io.err())
      const bytes = Buffer.from('caf\xe9 au lait\r\nline two', 'latin1')
      const command = Buffer.from('zcat | mysql --database=caf\xe9', 'latin1')
      const snap = r.out.find((x) => x.type === 'snapshot')!
      t.match(snap, {
        description: 'caf\ufffd au lait\r\nline two', descriptionB64: bytes.toString('base64'),
        restoreThrough: 'zcat | mysql --database=caf\ufffd', restoreThroughB64: command.toString('base64'),
      })
      const info = (await (await s.open()).head(keyOf('10-latin1')))!
      t.same(info.metadata.description, 'caf%E9 au lait%0D%0Aline two')
      t.same(info.metadata['restore-through'], 'zcat | mysql --database=caf%E9')
      t.same(Buffer.from(decodeURIComponentBytes(info.metadata.description!)), bytes, 'percent-decoding gives the exact bytes')
    })

    t.test('an empty snapshot is stored, with a warning', async (t) => {
      const s = await fresh(t)
      snapshotters(s.configDir, { '10-empty': 'echo "nothing to dump today"' })
      const r = await run(s.configDir)
      t.equal(r.status, 0)
      t.match(r.out.find((x) => x.type === 'snapshot'), { size: 0, sha256: sha256('') })
      t.match(r.out.find((x) => x.type === 'warning'), { message: /the snapshot is empty \(0 bytes\); stored as snapshots\/testhost\// })
      t.same(await versions(await s.open(), 'snapshots/'), [keyOf('10-empty')])
    })

    t.test('--only runs the named snapshotters; --dry-run runs and stores nothing', async (t) => {
      const s = await fresh(t)
      const ran = join(t.testdirName, 'ran')
      mkdirSync(ran)
      snapshotters(s.configDir, {
        '10-a': `touch ${ran}/a; echo a >&$1`,
        '20-b': `touch ${ran}/b; echo b >&$1`,
        '30-c': `touch ${ran}/c; echo c >&$1`,
      })
      const dry = await run(s.configDir, ['--dry-run'])
      t.equal(dry.status, 0)
      t.same(dry.out.filter((x) => x.type === 'would-snapshot').map((x) => [x.name, x.key]), ['10-a', '20-b', '30-c'].map((n) => [n, keyOf(n)]))
      t.notOk(existsSync(join(ran, 'a')), 'a dry run runs nothing')
      const only = await run(s.configDir, ['--only', '30-c', '--only', '10-a'])
      t.equal(only.status, 0)
      t.same(only.out.filter((x) => x.type === 'snapshot').map((x) => x.name), ['10-a', '30-c'], 'in name order')
      t.notOk(existsSync(join(ran, 'b')))
      t.same(await versions(await s.open(), 'snapshots/'), [keyOf('10-a'), keyOf('30-c')])
      const unknown = await run(s.configDir, ['--only', 'nope'])
      t.equal(unknown.status, 2)
      t.equal(unknown.io.out(), '')
      t.match(unknown.io.err(), /^sysbackup-snap: --only: no snapshotter "nope" in .*snapshots\.d \(there are: 10-a, 20-b, 30-c\)\n$/)
    })
  })
}

t.test('a snapshot record is written out before the next snapshotter starts (a kill in between cannot lose it)', async (t) => {
  const s = await LOCAL_STORE.fresh(t)
  // stdout that takes 200 ms to accept each write and only then has it in a file.
  const written = join(s.configDir, 'stdout.ndjson')
  writeFileSync(written, '')
  const io = testIO('')
  io.stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      setTimeout(() => {
        appendFileSync(written, chunk)
        done()
      }, 200)
    },
  })
  const seen = join(s.configDir, 'seen')
  snapshotters(s.configDir, {
    '10-first': 'echo one >&$1',
    '20-second': `grep -c '"name":"10-first"' ${written} > ${seen}; echo two >&$1`,
  })
  t.equal(await runStage(stage, ['--config', s.configDir, ...RUN_ARGS], io), 0, io.err())
  t.equal(readFileSync(seen, 'utf8'), '1\n', 'the first snapshot record was out when the second snapshotter started')
  t.same(parseRecords(readFileSync(written, 'utf8')).filter((r) => r.type === 'snapshot').map((r) => r.name), ['10-first', '20-second'])
})

t.test('no snapshots.d: nothing to do, and the store is not even opened', async (t) => {
  const s = await LOCAL_STORE.fresh(t)
  const r = await run(s.configDir)
  t.equal(r.status, 0)
  t.match(r.trailer, { ok: true, counts: { snapshotters: 0, snapshots: 0 } })
  t.notOk(existsSync(join(s.configDir, 'store')), 'no store created')
})

t.test('bad options are usage errors', async (t) => {
  const s = await LOCAL_STORE.fresh(t)
  for (const [args, message] of [
    [['--timeout=-1'], '--timeout: -1 is negative (seconds, 0 for no limit)'],
    [['--host', 'bad/host'], '--host: "bad/host" cannot name a host in the store (up to 128 letters, digits, ".", "_" and "-")'],
    [['--run-time', '2026-11-26 08:00'], '--run-time: "2026-11-26 08:00" is not an ISO-8601 time with a zone (e.g. 2026-11-26T08:00:00Z or 20261126T080000Z)'],
    [['--retain-until', '2000-01-01T00:00:00Z'], /^sysbackup-snap: --retain-until: 2000-01-01T00:00:00\.000Z is not after the run time /],
    [['extra'], 'unexpected argument "extra" (the snapshotters are the programs in snapshots.d)'],
  ] as const) {
    const io = testIO('')
    t.equal(await runStage(stage, ['--config', s.configDir, ...args], io), 2, args.join(' '))
    t.match(io.err(), typeof message === 'string' ? `sysbackup-snap: ${message}\n` : message)
    t.equal(io.out(), '')
  }
})

/** Percent-decoding into bytes (decodeURIComponent would insist on UTF-8). */
function decodeURIComponentBytes(text: string): number[] {
  const out: number[] = []
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      out.push(parseInt(text.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      out.push(text.charCodeAt(i))
    }
  }
  return out
}
