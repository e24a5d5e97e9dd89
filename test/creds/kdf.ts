import t from 'tap'
import { DEFAULT_KDF, deriveKey, kdfMemoryBytes, kdfParamsProblem, KEY_BYTES } from '../../src/creds/kdf.js'

t.test('the defaults are scrypt N=2^18, r=8, p=1: 256 MiB of work memory', async (t) => {
  t.same({ ...DEFAULT_KDF }, { log2N: 18, r: 8, p: 1 })
  t.ok(kdfMemoryBytes(DEFAULT_KDF) >= 256 * 1024 ** 2, 'at least 256 MiB')
  t.equal(kdfParamsProblem(DEFAULT_KDF), null)
})

t.test('derives RFC 7914 test vector 3 (first 32 bytes)', async (t) => {
  // scrypt("password", "NaCl", N=1024, r=8, p=16, dkLen=64), RFC 7914 section 12.
  const expected = 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162'
  const key = await deriveKey(Buffer.from('password'), Buffer.from('NaCl'), { log2N: 10, r: 8, p: 16 })
  t.equal(key.length, KEY_BYTES)
  t.equal(key.toString('hex'), expected)
})

t.test('parameters outside the limits are named and refused before any work', async (t) => {
  const cases: [Parameters<typeof kdfParamsProblem>[0], RegExp][] = [
    [{ log2N: 0, r: 8, p: 1 }, /log2\(N\) = 0 is outside 1\.\.32/],
    [{ log2N: 33, r: 8, p: 1 }, /log2\(N\) = 33 is outside/],
    [{ log2N: 10, r: 0, p: 1 }, /r = 0 is outside 1\.\.1024/],
    [{ log2N: 10, r: 2000, p: 1 }, /r = 2000 is outside/],
    [{ log2N: 10, r: 8, p: 0 }, /p = 0 is outside 1\.\.16/],
    [{ log2N: 10, r: 8, p: 17 }, /p = 17 is outside/],
    [{ log2N: 16, r: 1, p: 1 }, /not below 16·r = 16/],
    [{ log2N: 23, r: 8, p: 1 }, /needs 8192 MiB, more than the 4096 MiB/],
  ]
  for (const [params, message] of cases) {
    t.match(kdfParamsProblem(params), message, JSON.stringify(params))
    await t.rejects(deriveKey(Buffer.from('x'), Buffer.from('salt'), params), RangeError)
  }
  t.equal(kdfParamsProblem({ log2N: 22, r: 8, p: 1 }), null, '4 GiB is still allowed')
})
