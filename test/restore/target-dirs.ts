import t from 'tap'
import { mkdirSync, statSync, symlinkSync, writeFileSync, existsSync, renameSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BoundaryError } from '../../src/restore/target-path.js'
import { TargetDirs } from '../../src/restore/target-dirs.js'
import { inTheWay } from '../../src/restore/on-disk.js'

const parts = (...names: string[]) => names.map((n) => Buffer.from(n))

async function refusal(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(() => null, (e: unknown) => e)
  if (!(err instanceof Error)) throw new Error('expected a rejection')
  return err
}

t.test('missing directories are created mode 0700, and reported once each', async (t) => {
  const root = t.testdir({})
  const dirs = await TargetDirs.open(root)
  const created: string[] = []
  const onMissing = (p: readonly Buffer[]) => { created.push(p.map(String).join('/')) }
  const [a, b] = await Promise.all([dirs.acquire(parts('x', 'y', 'z'), onMissing), dirs.acquire(parts('x', 'y', 'z'), onMissing)])
  t.equal(a, b, 'concurrent acquirers share one handle')
  t.same(created, ['x', 'x/y', 'x/y/z'])
  for (const d of ['x', 'x/y', 'x/y/z']) t.equal(statSync(join(root, d)).mode & 0o7777, 0o700, `${d} is 0700`)
  await writeFile(a.at('f'), 'hi')
  t.equal(statSync(join(root, 'x/y/z/f')).size, 2)
  dirs.release(a)
  dirs.release(b)
  t.equal(dirs.where(parts('x', 'y')).toString(), join(root, 'x/y'))
  await dirs.close()
})

t.test('a directory this restore made is known as made, and nothing is looked up in the way there', async (t) => {
  const root = t.testdir({ old: { f: 'there before' } })
  const dirs = await TargetDirs.open(root)
  const noted = () => {}
  const old = await dirs.acquire(parts('old'), noted)
  const made = await dirs.acquire(parts('old', 'new'), noted)
  t.equal(old.made, false, 'a directory that was there is not made')
  t.equal(made.made, true, 'one created on the way is')
  t.equal(dirs.rootDir.made, false, 'the target itself is not')
  t.equal(inTheWay(old, 'f')?.kind, 'file', 'a file that was there before is in the way')
  t.equal(inTheWay(old, 'none'), null)
  writeFileSync(made.at('f'), 'written by this restore')
  t.equal(inTheWay(made, 'f'), null, 'in a made directory only the restore wrote, so it is not looked at')
  dirs.release(old)
  dirs.release(made)
  await dirs.close()
  const again = await TargetDirs.open(root)
  const reopened = await again.acquire(parts('old', 'new'), noted)
  t.equal(reopened.made, false, 'the next restore finds it there')
  t.equal(inTheWay(reopened, 'f')?.kind, 'file')
  again.release(reopened)
  await again.close()
})

t.test('without creation, a missing directory is ENOENT', async (t) => {
  const dirs = await TargetDirs.open(t.testdir({}))
  t.equal((await refusal(dirs.acquire(parts('nope'), null)) as NodeJS.ErrnoException).code, 'ENOENT')
  await dirs.close()
})

t.test('a symlink or a file where a directory is needed is refused, never followed', async (t) => {
  const base = t.testdir({ outside: {}, target: { file: 'x' } })
  const target = join(base, 'target')
  symlinkSync(join(base, 'outside'), join(target, 'link'))
  symlinkSync('../outside', join(target, 'rel'))
  const dirs = await TargetDirs.open(target)
  const created: string[] = []
  for (const [name, why] of [['link', /link is a symbolic link on disk; not followed$/], ['rel', /rel is a symbolic link on disk/], ['file', /file is not a directory on disk$/]] as const) {
    const err = await refusal(dirs.acquire(parts(name, 'sub'), (p) => { created.push(String(p)) }))
    t.ok(err instanceof BoundaryError, `${name} refused`)
    t.match(err.message, why)
  }
  t.same(created, [])
  t.notOk(existsSync(join(base, 'outside', 'sub')), 'nothing made outside')
  await dirs.close()
})

t.test('a handle keeps pointing at its directory when the path is swapped for a symlink', async (t) => {
  const base = t.testdir({ outside: {}, target: {} })
  const target = join(base, 'target')
  mkdirSync(join(target, 'd'))
  const dirs = await TargetDirs.open(target)
  const d = await dirs.acquire(parts('d'), null)
  // Someone moves the directory away and puts a symlink to outside in its place.
  renameSync(join(target, 'd'), join(target, 'moved'))
  symlinkSync(join(base, 'outside'), join(target, 'd'))
  await writeFile(d.at('f'), 'written through the handle')
  t.ok(existsSync(join(target, 'moved', 'f')), 'the write went to the directory that was opened')
  t.notOk(existsSync(join(base, 'outside', 'f')), 'not through the symlink')
  dirs.release(d)
  await dirs.close()
})

t.test('many directories: least recently used ones are closed and reopened on demand', async (t) => {
  const root = t.testdir({})
  const dirs = await TargetDirs.open(root)
  for (let i = 0; i < 600; i++) {
    const h = await dirs.acquire(parts(`d${i}`), () => {})
    dirs.release(h)
  }
  const again = await dirs.acquire(parts('d0'), null)
  writeFileSync(again.at('f'), 'x')
  t.ok(existsSync(join(root, 'd0', 'f')))
  dirs.release(again)
  await dirs.close()
})
