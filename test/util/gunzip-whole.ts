import t from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { gunzipWhole } from '../../src/util/gunzip-whole.js'
import { textOf } from '../helpers/files.js'

const MAX = 64 * 1024 * 1024
const text = Buffer.from(textOf(100_000))
const gz = gzipSync(text, { level: 1 })

t.test('a plain gzip body decodes to its content, with or without its size known', async (t) => {
  t.same(gunzipWhole(gz, text.length, MAX), text)
  t.same(gunzipWhole(gz, undefined, MAX), text)
  const empty = gzipSync(Buffer.alloc(0))
  t.equal(gunzipWhole(empty, 0, MAX).length, 0, 'empty content')
  const random = randomBytes(70_000)
  t.same(gunzipWhole(gzipSync(random), random.length, MAX), random, 'incompressible content')
})

t.test('what the raw inflate cannot vouch for is decoded by gunzip', async (t) => {
  // gzip(1) records the file name: a header with an optional field.
  const named = execFileSync('gzip', ['-c', '-N', '/etc/hostname'])
  t.not(named[3], 0, 'the header has flags')
  t.same(gunzipWhole(named, execFileSync('cat', ['/etc/hostname']).length, MAX), execFileSync('cat', ['/etc/hostname']))
  // Two members are one gzip file: both halves, as gunzip reads them.
  const two = Buffer.concat([gz, gz])
  t.same(gunzipWhole(two, 2 * text.length, MAX), Buffer.concat([text, text]), 'two members')
  // A size that is not the content's: what the body holds, for the caller's check to refuse.
  t.same(gunzipWhole(gz, text.length + 5, MAX), text, 'the stated size is not trusted')
})

t.test('damage is gunzip\'s error; a wrong CRC-32 alone is left to the caller\'s SHA-256', async (t) => {
  t.throws(() => gunzipWhole(gz.subarray(0, gz.length - 100), text.length, MAX), { code: 'Z_BUF_ERROR' }, 'cut short')
  const flipped = Buffer.from(gz)
  flipped[200] = flipped[200]! ^ 0xff
  t.throws(() => gunzipWhole(flipped, text.length, MAX), 'a damaged deflate stream')
  t.throws(() => gunzipWhole(gz, text.length, 1000), { code: 'ERR_BUFFER_TOO_LARGE' }, 'more than maxOutputLength')
  const badCrc = Buffer.from(gz)
  badCrc[badCrc.length - 8] = badCrc[badCrc.length - 8]! ^ 0xff
  t.same(gunzipWhole(badCrc, text.length, MAX), text, 'the content, unchecked by CRC-32')
})
