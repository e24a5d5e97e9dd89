import t from 'tap'
import { execFileSync } from 'node:child_process'
import { symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { StageContext } from '../../../src/cli/stage.js'
import { encodePath } from '../../../src/protocol/path-codec.js'
import type { Rec } from '../../../src/protocol/records.js'
import { readAcls, type AclBatch } from '../../../src/stages/pick/acl-reader.js'
import { attachAcls, batchRecords, type AclLookup, type BatchStep } from '../../../src/stages/pick/attach-acls.js'
import { testIO } from '../../helpers/io.js'

function context() {
  const io = testIO()
  return { io, ctx: new StageContext('sysbackup-pick', io, new AbortController()) }
}

async function* chunksOf(chunks: Rec[][], delayMs = 0): AsyncGenerator<Rec[]> {
  for (const chunk of chunks) {
    if (delayMs > 0) await sleep(delayMs)
    yield chunk
  }
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}

const rec = (n: number): Rec => ({ type: 'file', path: `/f${n}` })

t.test('batches fill up to their size from a fast source', async (t) => {
  const chunks = Array.from({ length: 10 }, (_, i) => Array.from({ length: 30 }, (_, j) => rec(i * 30 + j)))
  const batches = await all(batchRecords(chunksOf(chunks), 100, 10_000))
  t.same(batches.map((b) => b.length), [120, 120, 60], 'a batch is released once it holds at least the size')
  t.same(batches.flat().map((r) => r.path), chunks.flat().map((r) => r.path), 'in order')
})

t.test('the first batches are smaller: each twice the one before, up to the size', async (t) => {
  const chunks = Array.from({ length: 10 }, (_, i) => Array.from({ length: 30 }, (_, j) => rec(i * 30 + j)))
  const batches = await all(batchRecords(chunksOf(chunks), 100, 10_000, 25))
  t.same(batches.map((b) => b.length), [30, 60, 120, 90])
  t.same(batches.flat().map((r) => r.path), chunks.flat().map((r) => r.path), 'in order')
})

t.test('a slow source gets its batch out after the wait, not at the end', async (t) => {
  let firstOut = () => {}
  const released = new Promise<void>((resolve) => { firstOut = resolve })
  let releasedBeforeMore = false
  // The second chunk comes only once the first batch is out (or after 10 s, which fails the test).
  async function* slow(): AsyncGenerator<Rec[]> {
    yield [rec(1)]
    releasedBeforeMore = await Promise.race([released.then(() => true), sleep(10_000, false, { ref: false })])
    yield [rec(2)]
  }
  const sizes: number[] = []
  for await (const batch of batchRecords(slow(), 100, 50)) {
    sizes.push(batch.length)
    firstOut()
  }
  t.ok(releasedBeforeMore, 'the first batch was released while the source was still waiting')
  t.same(sizes, [1, 1])
})

t.test('ACLs of real files are attached, one lookup per batch, symlinks never asked about', async (t) => {
  const dir = t.testdir({ d: {} })
  const files = Array.from({ length: 600 }, (_, i) => join(dir, `f${i}`))
  for (const f of files) writeFileSync(f, '')
  execFileSync('setfacl', ['-m', 'u:nobody:r', files[7]!])
  execFileSync('setfacl', ['-d', '-m', 'u:nobody:rx', join(dir, 'd')])
  symlinkSync('f7', join(dir, 'link'))
  const bad = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0xff])])
  writeFileSync(bad, '')
  execFileSync('sh', ['-c', 'setfacl -m g:nogroup:w -- "$(cat)"'], { input: bad })

  const lookups: Buffer[] = []
  const counting: AclLookup = (paths, env, signal) => {
    lookups.push(paths)
    return readAcls(paths, env, signal)
  }
  const { ctx } = context()
  const records: Rec[] = [
    { type: 'dir', path: join(dir, 'd') },
    ...files.map((f) => ({ type: 'file', path: f })),
    { type: 'symlink', path: join(dir, 'link'), target: 'f7' },
    { type: 'file', ...encodePath(bad) },
    { type: 'warning', stage: 'x', message: 'passes through' },
  ]
  const out = await all(attachAcls(chunksOf([records.slice(0, 300), records.slice(300)]), ctx, { batchEntries: 2000, batchWaitMs: 200, env: process.env }, counting))
  t.equal(lookups.length, 1, 'one getfacl run for 600 files')
  t.notOk(lookups[0]!.includes(Buffer.from(join(dir, 'link'))), 'the symlink is not looked up')
  t.equal(out.length, records.length)
  t.same(out.map((r) => r.path ?? r.pathB64 ?? r.message), records.map((r) => r.path ?? r.pathB64 ?? r.message), 'order kept')
  t.same(out.filter((r) => r.acl || r.defaultAcl).map((r) => [r.path ?? r.pathB64, r.acl, r.defaultAcl]), [
    [join(dir, 'd'), undefined, 'user::rwx,user:nobody:r-x,group::r-x,mask::r-x,other::r-x'],
    [files[7], 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::r--', undefined],
    [bad.toString('base64'), 'user::rw-,group::r--,group:nogroup:-w-,mask::rw-,other::r--', undefined],
  ])
  t.equal(ctx.counts.acls, 3)
})

t.test('large inputs are split into batches of the given size', async (t) => {
  const batches: number[] = []
  const lookup: AclLookup = async (paths) => {
    batches.push(paths.toString('latin1').split('\0').length - 1)
    return { acls: new Map(), problems: [] }
  }
  const { ctx } = context()
  const chunks = Array.from({ length: 50 }, (_, i) => Array.from({ length: 100 }, (_, j) => rec(i * 100 + j)))
  const out = await all(attachAcls(chunksOf(chunks), ctx, { batchEntries: 1000, batchWaitMs: 200, env: process.env }, lookup))
  t.equal(out.length, 5000)
  t.same(batches, [1000, 1000, 1000, 1000, 1000])
})

t.test('getfacl missing: one warning first, records unchanged', async (t) => {
  const { ctx, io } = context()
  const records = [rec(1), rec(2)]
  const out = await all(attachAcls(chunksOf([records]), ctx, { batchEntries: 10, batchWaitMs: 10, env: { PATH: '/nonexistent' } }))
  t.match(out[0], { type: 'warning', stage: 'sysbackup-pick', message: /POSIX ACLs are not being recorded: getfacl was not found on PATH/ })
  t.same(out.slice(1), records)
  t.equal(ctx.counts.warnings, 1)
  t.match(io.err(), /^sysbackup-pick: warning: POSIX ACLs are not being recorded/)
})

t.test('getfacl failing to run: one warning, then no more attempts', async (t) => {
  let calls = 0
  const lookup: AclLookup = async (): Promise<AclBatch> => {
    calls++
    return { acls: new Map(), problems: [], unavailable: 'exit status 127' }
  }
  const { ctx } = context()
  const out = await all(attachAcls(chunksOf([[rec(1)], [rec(2)], [rec(3)]], 30), ctx, { batchEntries: 1, batchWaitMs: 5, env: process.env }, lookup))
  t.equal(calls, 1)
  t.equal(out.filter((r) => r.type === 'warning').length, 1)
  t.equal(out.filter((r) => r.type === 'file').length, 3)
})

t.test("getfacl's complaints become warnings after the batch", async (t) => {
  const lookup: AclLookup = async () => ({ acls: new Map(), problems: ['getfacl: /f1: No such file or directory'] })
  const { ctx } = context()
  const out = await all(attachAcls(chunksOf([[rec(1)]]), ctx, { batchEntries: 10, batchWaitMs: 5, env: process.env }, lookup))
  t.match(out, [{ type: 'file' }, { type: 'warning', message: 'ACL not read: getfacl: /f1: No such file or directory' }])
})

t.test('a step: started when the records start to flow, never before; asked first; closed at the end', async (t) => {
  const calls: string[] = []
  const step: BatchStep = {
    start: () => { calls.push('start') },
    run: async (batch) => {
      calls.push(`run ${batch.length}`)
      for (const r of batch) r.acl = 'from the step'
      return { problems: [{ type: 'warning', message: 'from the step' }], aclsRead: true }
    },
    close: () => { calls.push('close') },
  }
  const lookup: AclLookup = async () => {
    calls.push('getfacl')
    return { acls: new Map(), problems: [] }
  }
  const { ctx } = context()
  const records = attachAcls(chunksOf([[rec(1), rec(2)]]), ctx, { batchEntries: 10, batchWaitMs: 5, env: process.env, step }, lookup)
  await sleep(10)
  t.same(calls, [], 'a generator not iterated starts nothing (it would never reach the close)')
  const out = await all(records)
  t.same(calls, ['start', 'run 2', 'close'], 'getfacl is not asked when the step read the ACLs')
  t.match(out, [{ type: 'file', acl: 'from the step' }, { type: 'file', acl: 'from the step' }, { type: 'warning', message: 'from the step' }])

  calls.length = 0
  const unread: BatchStep = { ...step, run: async () => ({ problems: [], aclsRead: false }) }
  await all(attachAcls(chunksOf([[rec(3)]]), ctx, { batchEntries: 10, batchWaitMs: 5, env: process.env, step: unread }, lookup))
  t.same(calls, ['start', 'getfacl', 'close'], 'a batch the step could not read goes to getfacl')
})
