import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createGunzip, gunzipSync } from 'node:zlib'
import { writeGzipMembers } from '../../src/util/gzip-members.js'

/** Text chunks of 1 to 64 KiB, deterministic, some compressible. */
function chunks(total: number): Buffer[] {
  const out: Buffer[] = []
  let seed = 7
  for (let made = 0; made < total;) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    const size = Math.min(total - made, 1024 + (seed % (63 * 1024)))
    out.push(Buffer.from(`{"type":"file","path":"/etc/file-${seed}","size":${size}}\n`.repeat(Math.ceil(size / 48)).slice(0, size)))
    made += size
  }
  return out
}

async function* from(list: Buffer[]): AsyncGenerator<Buffer> {
  yield* list
}

/** The gzip members of a file: each starts with the magic bytes and deflate (1f 8b 08). */
function memberCount(file: Buffer): number {
  let n = 0
  for (let i = file.indexOf('1f8b08', 0, 'hex'); i >= 0; i = file.indexOf('1f8b08', i + 3, 'hex')) n++
  return n
}

t.test('several members, compressed in parallel, read back as the whole text by gunzip and by a gunzip stream', async (t) => {
  const dir = t.testdir({})
  const input = chunks(5 * 1024 * 1024)
  const file = join(dir, 'out.gz')
  await writeGzipMembers(from(input), file, { level: 4, memberBytes: 1 << 20, parallel: 2 })
  const written = readFileSync(file)
  t.ok(memberCount(written) >= 5, 'one member per MiB of input at least')
  t.ok(gunzipSync(written).equals(Buffer.concat(input)), 'gunzipSync gives the input back')
  const streamed: Buffer[] = []
  const gunzip = createGunzip()
  gunzip.end(written)
  for await (const c of gunzip) streamed.push(c as Buffer)
  t.ok(Buffer.concat(streamed).equals(Buffer.concat(input)), 'so does a gunzip stream, as the manifest reader uses')
})

t.test('an empty input is one empty member; an existing file is not overwritten', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'empty.gz')
  await writeGzipMembers(from([]), file, { level: 4, memberBytes: 1 << 20 })
  t.equal(gunzipSync(readFileSync(file)).length, 0)
  writeFileSync(join(dir, 'there.gz'), 'keep')
  await t.rejects(writeGzipMembers(from([Buffer.from('x')]), join(dir, 'there.gz'), { level: 4, memberBytes: 1 }), { code: 'EEXIST' })
  t.equal(readFileSync(join(dir, 'there.gz'), 'utf8'), 'keep')
  t.ok(existsSync(file))
})
