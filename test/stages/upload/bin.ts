/**
 * The built bin/sysbackup-upload.js as a real process, fed fixture files
 * (test/fixtures/upload/*.ndjson, whose file records name paths relative
 * to the working directory), against a local store and moto.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { Rec } from '../../../src/protocol/records.js'
import { ROOT, runBin } from '../../helpers/bin.js'
import { fileRecord, ndjson, pickStream } from '../../helpers/entries.js'
import { parseRecords } from '../../helpers/io.js'
import { startMoto, type Moto } from '../../helpers/moto.js'
import { localBackend, s3Backend, type Backend } from '../../helpers/store-backends.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const FIXTURES = join(ROOT, 'test', 'fixtures', 'upload')
const fixture = (name: string) => readFileSync(join(FIXTURES, name))
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')
const HELLO = 'hello, world\n'
const NOTES = 'option = value\n'.repeat(40)

let moto: Moto
t.before(async () => {
  moto = await startMoto()
})
t.teardown(async () => {
  await moto.stop()
})

/** A working directory holding the files the fixtures name, and a store. */
async function workdir(t: Test, kind: 'local' | 's3'): Promise<{ dir: string, b: Backend }> {
  const dir = t.testdir({ tree: { 'hello.txt': HELLO, 'notes.conf': NOTES, 'hello-again.txt': HELLO } })
  if (kind === 'local') return { dir, b: localBackend(dir) }
  await moto.reset()
  return { dir, b: await s3Backend(dir, moto, 'bin-test') }
}

function upload(b: Backend, dir: string, args: string[], stdin: Buffer | string) {
  return runBin('sysbackup-upload', [...b.storeArgs, '--state-dir', join(dir, 'state'), ...args], { stdin, cwd: dir, env: { ...b.env, TZ: 'UTC' }, timeoutMs: 60_000 })
}

for (const kind of ['local', 's3'] as const) {
  t.test(`${kind} store: a hashed fixture is stored, everything passes in order, a second run asks nothing`, async (t) => {
    const { dir, b } = await workdir(t, kind)
    const r = await upload(b, dir, ['--host', 'fixture-host'], fixture('hashed.ndjson'))
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stderr, '')
    const out = r.records()
    const input = parseRecords(fixture('hashed.ndjson').toString('utf8'))
    t.match(out[0], { type: 'header', producer: 'sysbackup-upload', protocol: 1 })
    t.same(out.slice(1, -1).map((x) => x.type), input.map((x) => x.type), 'every record, in order')
    t.same(out.slice(1, -1).filter((x) => x.type !== 'file'), input.filter((x) => x.type !== 'file'), 'other records unchanged')
    const files = out.filter((x) => x.type === 'file')
    t.match(files, [
      { path: 'tree/hello.txt', key: `content/${sha256(HELLO)}`, upload: 'stored' },
      { path: 'tree/notes.conf', key: `content/${sha256(NOTES)}`, upload: 'stored' },
      { path: 'tree/hello-again.txt', key: `content/${sha256(HELLO)}`, upload: 'reused', versionId: files[0]!.versionId },
    ])
    t.match(out.at(-1), { type: 'trailer', producer: 'sysbackup-upload', ok: true, counts: { files: 3, stored: 2, reused: 1, 'req.PutObject': 2 } })
    const store = await b.inspect()
    const { body, info } = await store.get(files[1]!.key as string, files[1]!.versionId as string)
    const chunks: Buffer[] = []
    for await (const c of body) chunks.push(c as Buffer)
    t.equal(info.contentEncoding, 'gzip')
    t.equal(gunzipSync(Buffer.concat(chunks)).toString(), NOTES)

    const again = await upload(b, dir, ['--host', 'fixture-host'], fixture('hashed.ndjson'))
    t.equal(again.status, 0)
    const trailer = again.records().at(-1)!
    t.same(Object.keys(trailer.counts as object).filter((k) => k.startsWith('req.')), [], 'no request')
    t.match(trailer.counts, { reused: 3 })
  })
}

t.test('a file record without sha256: exit 3 naming the line, no trailer claims ok', async (t) => {
  const { dir, b } = await workdir(t, 'local')
  const r = await upload(b, dir, [], fixture('no-sha256.ndjson'))
  t.equal(r.status, 3)
  t.equal(r.stderr, 'sysbackup-upload: stdin:3: file record has no "sha256" (run it through sysbackup-hash first)\n')
  t.match(r.records().at(-1), { type: 'trailer', producer: 'sysbackup-upload', ok: false })
})

t.test('a cut-off input: what arrived is stored and passed on, exit 1, trailer not ok', async (t) => {
  const { dir, b } = await workdir(t, 'local')
  const r = await upload(b, dir, [], fixture('cut-off.ndjson'))
  t.equal(r.status, 1)
  t.match(r.stderr, 'sysbackup-upload: stdin: input ended at line 3 without the trailer of sysbackup-pick, sysbackup-hash: the stream was cut off')
  const out = r.records()
  t.match(out.filter((x) => x.type === 'file'), [{ upload: 'stored' }])
  t.match(out.at(-1), { type: 'trailer', ok: false, reason: /the stream was cut off/ })
})

t.test('a bad option: exit 2, one line, no output', async (t) => {
  const { dir, b } = await workdir(t, 'local')
  const r = await upload(b, dir, ['--jobs', 'many'], fixture('hashed.ndjson'))
  t.equal(r.status, 2)
  t.equal(r.stdout, '')
  t.match(r.stderr, /^sysbackup-upload: option --jobs: [^\n]+\n$/)
})

t.test('sysbackup-hash | sysbackup-upload over a real pipe', async (t) => {
  const dir = t.testdir({ tree: { a: 'alpha\n', b: 'beta\n' }, config: { conf: '' } })
  const b = localBackend(dir)
  const picked = ndjson(pickStream(['a', 'b'].map((n) => fileRecord(join(dir, 'tree', n)))))
  const env: NodeJS.ProcessEnv = { ...process.env, S3_SYSBACKUP_CONFIG: join(dir, 'config') }
  delete env.NODE_OPTIONS
  const hash = spawn(process.execPath, [join(ROOT, 'bin', 'sysbackup-hash.js'), '--state-dir', join(dir, 'state')], { env, stdio: ['pipe', 'pipe', 'inherit'] })
  const up = spawn(process.execPath, [join(ROOT, 'bin', 'sysbackup-upload.js'), ...b.storeArgs, '--state-dir', join(dir, 'state')], { env, stdio: [hash.stdout, 'pipe', 'pipe'] })
  hash.stdin.end(picked)
  const chunks: Buffer[] = []
  up.stdout!.on('data', (c: Buffer) => chunks.push(c))
  let stderr = ''
  up.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const [hashStatus, upStatus] = await Promise.all([
    new Promise((resolve) => hash.on('exit', resolve)),
    new Promise((resolve) => up.on('close', resolve)),
  ])
  t.equal(hashStatus, 0)
  t.equal(upStatus, 0, stderr)
  const out: Rec[] = parseRecords(Buffer.concat(chunks).toString())
  t.same(out.map((x) => x.type), ['header', 'header', 'header', 'file', 'file', 'trailer', 'trailer', 'trailer'])
  t.match(out.filter((x) => x.type === 'file'), [{ key: `content/${sha256('alpha\n')}`, upload: 'stored' }, { key: `content/${sha256('beta\n')}`, upload: 'stored' }])
})

t.test('SIGTERM while a request hangs: the trailer says so at once; exit 130 within the runner\'s grace', async (t) => {
  const dir = t.testdir({ tree: { 'hello.txt': HELLO, 'notes.conf': NOTES, 'hello-again.txt': HELLO }, config: {} })
  const hung: ServerResponse[] = []
  const server = createServer((req, res) => { req.resume(); hung.push(res) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  writeFileSync(join(dir, 'config', 'conf'), `[s3]\nbucket = hangs\nendpoint = ${endpoint}\nforce_path_style = true\n`)
  const env: NodeJS.ProcessEnv = { ...process.env, ...moto.env, S3_SYSBACKUP_CONFIG: join(dir, 'config') }
  delete env.NODE_OPTIONS
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'sysbackup-upload.js'), '--state-dir', join(dir, 'state')], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.end(fixture('hashed.ndjson'))
  const out: Buffer[] = []
  let trailerAt = 0
  child.stdout.on('data', (c: Buffer) => {
    out.push(c)
    if (c.toString().includes('"producer":"sysbackup-upload","ok":false')) trailerAt = performance.now()
  })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  while (hung.length === 0) await new Promise((r) => setTimeout(r, 20))
  const signalled = performance.now()
  child.kill('SIGTERM')
  const status = await new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  const seconds = (performance.now() - signalled) / 1000
  t.equal(status, 130, stderr)
  t.ok(trailerAt - signalled < 2000, `trailer ${Math.round(trailerAt - signalled)} ms after SIGTERM`)
  // The hung request holds a socket open; the runner's grace timer ends the process.
  t.ok(seconds < 12, `exited ${seconds.toFixed(1)} s after SIGTERM`)
  const records = parseRecords(Buffer.concat(out).toString())
  t.match(records.at(-1), { type: 'trailer', producer: 'sysbackup-upload', ok: false, reason: 'interrupted by SIGTERM' })
  t.notOk(records.some((r) => r.type === 'file' && r.upload !== undefined), 'nothing claims to be stored')
})
