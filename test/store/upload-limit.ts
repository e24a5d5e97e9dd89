import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../../src/cli/errors.js'
import { loadConfig, type LoadedConfig } from '../../src/config/load-config.js'
import { LocalStore } from '../../src/store/local-store.js'
import { openStore } from '../../src/store/open-store.js'
import { uploadLimitOf } from '../../src/store/upload-limit.js'

const DAY = 86_400_000
const LOCK = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
const MiB = 1024 * 1024

function config(t: Test, text: string): LoadedConfig {
  const dir = join(t.testdir(), 'config')
  mkdirSync(dir)
  writeFileSync(join(dir, 'conf'), text)
  return loadConfig(dir, {})
}

async function* chunks(total: number, size: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += size) yield randomBytes(Math.min(size, total - sent))
}

t.test('[s3] limit_upload holds what a writer stores to the rate, buffers and streams alike, in every store of the process', async (t) => {
  const c = config(t, '[s3]\nbucket = file:store\nlimit_upload = 1M\n')
  const store = await openStore(c, { access: 'write' })
  const second = await openStore(c, { access: 'write' })
  const started = performance.now()
  await Promise.all([
    store.putBuffer('content/a', randomBytes(MiB / 2), LOCK),
    store.putStream('content/b', chunks(MiB, 64 * 1024), LOCK),
    second.putBuffer('content/c', randomBytes(MiB / 2), LOCK),
  ])
  const seconds = (performance.now() - started) / 1000
  // 2 MiB at 1 MiB/s, less the 0.25 s that may go ahead: at least 1.75 s whatever the machine.
  t.ok(seconds >= 1.7, `2 MiB stored in ${seconds.toFixed(2)} s at 1 MiB/s, shared by both stores`)
  t.equal((await store.head('content/b'))?.size, MiB, 'the stream is stored whole')
  t.equal(store.requests.get('PutObject'), 2, 'the wrapper counts what the store counts')

  const reader = await openStore(c)
  t.ok(reader instanceof LocalStore, 'reading is not limited')
  const before = performance.now()
  const { body } = await reader.get('content/b')
  let read = 0
  for await (const chunk of body) read += (chunk as Buffer).length
  t.equal(read, MiB)
  t.ok(performance.now() - before < 1000, 'a download does not wait')
})

t.test('--limit-upload overrides the setting; 0 is no limit', async (t) => {
  const c = config(t, '[s3]\nbucket = file:store\nlimit_upload = 1K\n')
  const store = await openStore(c, { access: 'write', limitUpload: '0' })
  t.ok(store instanceof LocalStore, 'no wrapper at all')
  const started = performance.now()
  await store.putBuffer('content/a', randomBytes(MiB), LOCK)
  t.ok(performance.now() - started < 1000, 'not held to the 1 KiB/s of the setting')
  t.equal(uploadLimitOf('4M', '1K', 'conf'), 4 * MiB)
  t.equal(uploadLimitOf(undefined, '512K', 'conf'), 512 * 1024)
  t.equal(uploadLimitOf(undefined, undefined, 'conf'), 0)
})

t.test('a limit that is not a rate is a configuration error naming where it was written', async (t) => {
  const c = config(t, '[s3]\nbucket = file:store\nlimit_upload = fast\n')
  const err = await openStore(c, { access: 'read' }).then(() => null, (e: unknown) => e)
  t.type(err, ConfigError, 'even for reading: a dry run shows the mistake')
  t.match((err as Error).message, /conf: \[s3\] limit_upload "fast" is not a rate: give bytes a second, with K, M or G/)
  const option = await openStore(config(t, '[s3]\nbucket = file:store\n'), { access: 'write', limitUpload: '4MB' }).then(() => null, (e: unknown) => e)
  t.equal((option as Error).message, '--limit-upload "4MB" is not a rate: give bytes a second, with K, M or G for KiB, MiB or GiB (e.g. 512K, 4M)')
})
