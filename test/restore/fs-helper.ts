import t from 'tap'
import { execFileSync } from 'node:child_process'
import { closeSync, lstatSync, openSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FsHelper, HelperError, setFileTimes } from '../../src/restore/fs-helper.js'

const p = (path: string) => Buffer.from(path)

t.test('times are set to the nanosecond, on a symlink itself, many at once', async (t) => {
  const dir = t.testdir({ a: 'a', b: 'b' })
  symlinkSync('a', join(dir, 'link'))
  const helper = await FsHelper.start(process.env)
  t.ok(helper.available, helper.unavailable ?? '')
  const values = Array.from({ length: 200 }, (_, i) => 1_700_000_000_000_000_000n + BigInt(i) * 1_234_567_891n + 7n)
  await Promise.all(values.map((ns, i) => helper.setTimes(p(join(dir, i % 2 ? 'a' : 'b')), ns, ns)))
  await helper.setTimes(p(join(dir, 'a')), 1n, 1_600_000_000_123_456_789n)
  await helper.setTimes(p(join(dir, 'link')), 5n, 1_500_000_000_987_654_321n)
  t.equal(statSync(join(dir, 'a'), { bigint: true }).mtimeNs, 1_600_000_000_123_456_789n)
  t.equal(statSync(join(dir, 'a'), { bigint: true }).atimeNs, 1n)
  t.equal(lstatSync(join(dir, 'link'), { bigint: true }).mtimeNs, 1_500_000_000_987_654_321n, 'the link')
  t.equal(statSync(join(dir, 'a'), { bigint: true }).mtimeNs, 1_600_000_000_123_456_789n, 'not its target')
  await helper.close()
})

t.test('failures come back as errno names for their own request; the rest go on', async (t) => {
  const dir = t.testdir({ a: 'a' })
  const helper = await FsHelper.start(process.env)
  const results = await Promise.allSettled([
    helper.setTimes(p(join(dir, 'a')), 1n, 2n),
    helper.setTimes(p(join(dir, 'missing')), 1n, 2n),
    helper.mknod(p(join(dir, 'a')), 0o010600, 0),
    helper.mknod(p(join(dir, 'fifo')), 0o010640, 0),
  ])
  t.same(results.map((r) => r.status === 'fulfilled' ? 'ok' : ((r as PromiseRejectedResult).reason as HelperError).code), ['ok', 'ENOENT', 'EEXIST', 'ok'])
  t.ok(lstatSync(join(dir, 'fifo')).isFIFO())
  await helper.close()
})

t.test('paths that are not UTF-8 reach the helper intact', async (t) => {
  const dir = t.testdir({})
  const name = Buffer.concat([p(dir + '/'), Buffer.from([0x66, 0xff, 0x0a, 0xe9])])
  writeFileSync(name, 'x')
  const helper = await FsHelper.start(process.env)
  await helper.setTimes(name, 3n, 1_234_567_890_123_456_789n)
  t.equal(lstatSync(name, { bigint: true }).mtimeNs, 1_234_567_890_123_456_789n)
  await helper.close()
})

t.test('without python3: times to about a microsecond, and no special files', async (t) => {
  const dir = t.testdir({ a: 'a' })
  const helper = await FsHelper.start({ PATH: '/nonexistent' })
  t.notOk(helper.available)
  t.match(helper.unavailable, /python3 was not found on PATH/)
  await helper.setTimes(p(join(dir, 'a')), 1n, 1_600_000_000_123_456_789n)
  const got = statSync(join(dir, 'a'), { bigint: true }).mtimeNs
  t.ok(got > 1_600_000_000_123_455_000n && got < 1_600_000_000_123_458_000n, `close to the value (${got})`)
  const err = await helper.mknod(p(join(dir, 'f')), 0o010600, 0).then(() => null, (e: unknown) => e)
  t.equal((err as HelperError).code, 'ENOSYS')
  await helper.close()
})

t.test('times in whole seconds are set without a request to the helper; others go to it', async (t) => {
  const dir = t.testdir({ a: 'a', b: 'b' })
  symlinkSync('a', join(dir, 'link'))
  const helper = await FsHelper.start(process.env)
  t.ok(helper.available, helper.unavailable ?? '')
  await helper.setTimes(p(join(dir, 'a')), 1_700_000_000_000_000_000n, 1_600_000_000_000_000_000n)
  await helper.setTimes(p(join(dir, 'link')), 1_000_000_000n, 86_400_000_000_000n)
  t.equal(helper.sent, 0)
  t.equal(statSync(join(dir, 'a'), { bigint: true }).mtimeNs, 1_600_000_000_000_000_000n)
  t.equal(statSync(join(dir, 'a'), { bigint: true }).atimeNs, 1_700_000_000_000_000_000n)
  t.equal(lstatSync(join(dir, 'link'), { bigint: true }).mtimeNs, 86_400_000_000_000n, 'the link itself')
  t.equal(statSync(join(dir, 'a'), { bigint: true }).mtimeNs, 1_600_000_000_000_000_000n, 'not its target')
  const err = await helper.setTimes(p(join(dir, 'missing')), 0n, 0n).then(() => null, (e: unknown) => e)
  t.ok(err instanceof HelperError && err.code === 'ENOENT', 'a failure is a HelperError with its errno name')
  await helper.setTimes(p(join(dir, 'b')), 1_700_000_000_000_000_000n, 1_600_000_000_000_000_001n)
  t.equal(helper.sent, 1, 'a time below the second goes to the helper')
  t.equal(statSync(join(dir, 'b'), { bigint: true }).mtimeNs, 1_600_000_000_000_000_001n)
  await helper.setTimes(p(join(dir, 'b')), 1_700_000_000_000_000_000n, -86_400_000_000_000n)
  t.equal(helper.sent, 2, 'so does a time before 1970 (Node takes it for "now")')
  t.equal(statSync(join(dir, 'b'), { bigint: true }).mtimeNs, -86_400_000_000_000n)
  await helper.close()
})

t.test('an open file takes times in whole seconds through its descriptor; others are left to setTimes', async (t) => {
  const dir = t.testdir({ a: 'a' })
  const fd = openSync(join(dir, 'a'), 'r+')
  t.teardown(() => closeSync(fd))
  const before = statSync(join(dir, 'a'), { bigint: true }).mtimeNs
  t.equal(setFileTimes(fd, 1_700_000_000_000_000_000n, 1_600_000_000_000_000_001n), false, 'a time below the second: not set here')
  t.equal(setFileTimes(fd, 1_700_000_000_000_000_000n, -86_400_000_000_000n), false, 'nor one before 1970')
  t.equal(statSync(join(dir, 'a'), { bigint: true }).mtimeNs, before, 'and nothing was changed')
  t.equal(setFileTimes(fd, 1_700_000_000_000_000_000n, 1_600_000_000_000_000_000n), true, 'whole seconds: set')
  const st = statSync(join(dir, 'a'), { bigint: true })
  t.equal(st.mtimeNs, 1_600_000_000_000_000_000n)
  t.equal(st.atimeNs, 1_700_000_000_000_000_000n)
  t.equal(setFileTimes(999_999, 0n, 0n), false, 'a descriptor that cannot take them: false, for setTimes to report')
})

t.test('times asked for later are sent together: after a short wait, with a request made now, or when the helper closes', async (t) => {
  const dir = t.testdir({ a: 'a', b: 'b', c: 'c', d: 'd' })
  const helper = await FsHelper.start(process.env)
  t.ok(helper.available, helper.unavailable ?? '')
  const writes: number[] = []
  const stdin = (helper as unknown as { child: { stdin: { write: (b: Buffer) => boolean } } }).child.stdin
  const write = stdin.write.bind(stdin)
  stdin.write = (b: Buffer) => { writes.push(b.length); return write(b) }
  const ns = (n: bigint) => 1_600_000_000_000_000_000n + n
  await Promise.all([helper.setTimes(p(join(dir, 'a')), ns(0n), ns(1n), 'later'), helper.setTimes(p(join(dir, 'b')), ns(0n), ns(2n), 'later')])
  t.equal(writes.length, 1, 'two later requests: one pipe write, after the wait')
  const later = helper.setTimes(p(join(dir, 'c')), ns(0n), ns(3n), 'later')
  await helper.setTimes(p(join(dir, 'd')), ns(0n), ns(4n))
  await later
  t.equal(writes.length, 2, 'a later request goes out with the next one made now')
  const atClose = helper.setTimes(p(join(dir, 'a')), ns(0n), ns(5n), 'later')
  await helper.close()
  await atClose
  t.equal(writes.length, 3, 'and one still waiting goes out when the helper closes')
  t.same(['a', 'b', 'c', 'd'].map((n) => statSync(join(dir, n), { bigint: true }).mtimeNs), [ns(5n), ns(2n), ns(3n), ns(4n)], 'each set, to the nanosecond')
})

t.test('extended attributes are set on the entry itself, binary values intact', async (t) => {
  const dir = t.testdir({ a: 'a' })
  symlinkSync('a', join(dir, 'link'))
  const helper = await FsHelper.start(process.env)
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  await helper.setXattr(p(join(dir, 'a')), 'user.binary', binary.toString('base64'))
  await helper.setXattr(p(join(dir, 'a')), 'user.empty', '')
  await helper.setXattr(p(join(dir, 'link')), 'trusted.note', Buffer.from('the link').toString('base64'))
  const read = (path: string, name: string) => execFileSync('python3', ['-c', 'import os, sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())', path, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  t.equal(read(join(dir, 'a'), 'user.binary'), binary.toString('hex'))
  t.equal(read(join(dir, 'a'), 'user.empty'), '')
  t.equal(read(join(dir, 'link'), 'trusted.note'), Buffer.from('the link').toString('hex'), 'the link itself')
  t.throws(() => read(join(dir, 'a'), 'trusted.note'), 'not its target')
  const results = await Promise.allSettled([
    helper.setXattr(p(join(dir, 'missing')), 'user.x', ''),
    helper.setXattr(p(join(dir, 'a')), 'user.x', 'not base64!'),
    helper.setXattr(p(join(dir, 'link')), 'user.x', ''),
  ])
  t.same(results.map((r) => r.status === 'fulfilled' ? 'ok' : ((r as PromiseRejectedResult).reason as HelperError).code), ['ENOENT', 'EINVAL', 'EPERM'],
    'a missing entry; a value that is not base64; a user attribute on a symlink, which Linux refuses')
  await helper.close()
  const without = await FsHelper.start({ PATH: '/nonexistent' })
  const err = await without.setXattr(p(join(dir, 'a')), 'user.x', '').then(() => null, (e: unknown) => e)
  t.equal((err as HelperError).code, 'ENOSYS', 'Node has no call for it')
})
