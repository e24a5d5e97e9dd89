import t from 'tap'
import { createCipheriv, randomBytes } from 'node:crypto'
import { MalformedPackageError } from '../../src/creds/errors.js'
import { deriveKey, DEFAULT_KDF } from '../../src/creds/kdf.js'
import { openPackage, sealPackage } from '../../src/creds/package-crypto.js'
import { encodeHeader, HEADER_BYTES, parsePackage } from '../../src/creds/package-format.js'

const PASSWORD = Buffer.from('correct horse battery staple')
const PAYLOAD = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', createdAt: '2026-11-26T08:00:00.000Z' }

t.test('the header is laid out as documented', async (t) => {
  const bytes = await sealPackage(PAYLOAD, PASSWORD, { kdf: { log2N: 5, r: 3, p: 2 } })
  t.equal(bytes.subarray(0, 8).toString('latin1'), 'S3SBCRED', 'magic')
  t.equal(bytes[8], 1, 'format version')
  t.equal(bytes[9], 1, 'KDF id: scrypt')
  t.equal(bytes[10], 5, 'log2(N)')
  t.equal(bytes.readUInt32BE(11), 3, 'r')
  t.equal(bytes.readUInt32BE(15), 2, 'p')
  t.equal(bytes[51], 1, 'cipher id: AES-256-GCM')
  const n = bytes.readUInt32BE(64)
  t.equal(bytes.length, 68 + n + 16, 'header + ciphertext + tag')
  t.equal(n, Buffer.from(JSON.stringify(PAYLOAD)).length, 'GCM ciphertext is as long as the JSON payload')
  const parsed = parsePackage(bytes, 'p.pkg')
  t.same(parsed.header.kdf, { log2N: 5, r: 3, p: 2 })
  t.same(parsed.headerBytes, bytes.subarray(0, HEADER_BYTES))
  t.same(parsed.header.salt, bytes.subarray(19, 51))
  t.same(parsed.header.nonce, bytes.subarray(52, 64))
  t.same(parsed.tag, bytes.subarray(bytes.length - 16))
  t.same(encodeHeader(parsed.header), parsed.headerBytes, 'encode and parse agree')
})

t.test('the KDF parameters are read from the file, not assumed', async (t) => {
  for (const kdf of [{ log2N: 3, r: 1, p: 1 }, { log2N: 6, r: 2, p: 3 }, { log2N: 9, r: 4, p: 1 }]) {
    const bytes = await sealPackage(PAYLOAD, PASSWORD, { kdf })
    t.same(await openPackage(bytes, PASSWORD, 'p.pkg'), PAYLOAD, `opens with N=2^${kdf.log2N} r=${kdf.r} p=${kdf.p}`)
  }
})

t.test('new packages record the real default parameters (one real derivation)', async (t) => {
  const bytes = await sealPackage(PAYLOAD, PASSWORD)
  t.same(parsePackage(bytes, 'p.pkg').header.kdf, { log2N: 18, r: 8, p: 1 })
  t.same({ log2N: bytes[10], r: bytes.readUInt32BE(11), p: bytes.readUInt32BE(15) }, DEFAULT_KDF)
})

t.test('authentic content that is not a payload is malformed, not a wrong password', async (t) => {
  // Written by hand with the right key: only a foreign or buggy writer could do this.
  const kdf = { log2N: 4, r: 1, p: 1 }
  for (const content of ['[]', '{"accessKeyId":"AKIA"}', 'not json', '{"accessKeyId":"A","secretAccessKey":"s","createdAt":"t","region":7}']) {
    const salt = randomBytes(32)
    const nonce = randomBytes(12)
    const plaintext = Buffer.from(content)
    const header = encodeHeader({ kdf, salt, nonce, ciphertextLength: plaintext.length })
    const cipher = createCipheriv('aes-256-gcm', await deriveKey(PASSWORD, salt, kdf), nonce)
    cipher.setAAD(header)
    const bytes = Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    await t.rejects(openPackage(bytes, PASSWORD, 'p.pkg'),
      { name: 'MalformedPackageError', message: 'p.pkg: malformed credentials package: the decrypted content is not a credentials payload (written by another program?)' }, content)
  }
  t.ok(MalformedPackageError)
})

t.test('unknown version, KDF and cipher ids, and oversized lengths are malformed', async (t) => {
  const good = await sealPackage(PAYLOAD, PASSWORD, { kdf: { log2N: 4, r: 1, p: 1 } })
  const cases: [number, (b: Buffer) => void, RegExp][] = [
    [8, (b) => { b[8] = 2 }, /format version 2 is not supported \(this s3-sysbackup reads version 1\)/],
    [9, (b) => { b[9] = 2 }, /unknown key derivation function id 2/],
    [51, (b) => { b[51] = 7 }, /unknown cipher id 7/],
    [64, (b) => { b.writeUInt32BE(0x7fffffff, 64) }, /announces 2147483647 bytes of ciphertext, more than the 65536/],
    [10, (b) => { b[10] = 30; b.writeUInt32BE(8, 11) }, /needs \d+ MiB, more than the 4096 MiB this version allows/],
  ]
  for (const [offset, change, message] of cases) {
    const bytes = Buffer.from(good)
    change(bytes)
    t.throws(() => parsePackage(bytes, 'p.pkg'), { name: 'MalformedPackageError', message }, `byte ${offset}`)
  }
})
