import t from 'tap'
import { MalformedPackageError, WrongPasswordOrAlteredError } from '../../src/creds/errors.js'
import { openPackage, sealPackage } from '../../src/creds/package-crypto.js'
import { OFFSET, SALT_BYTES, TAG_BYTES } from '../../src/creds/package-format.js'
import type { CredentialsPayload } from '../../src/creds/payload.js'

/** Cheap parameters so hundreds of derivations take well under a second; the format is the same. */
const CHEAP = { log2N: 4, r: 1, p: 1 }
const PASSWORD = Buffer.from('correct horse battery staple')
const FULL: CredentialsPayload = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  region: 'eu-west-3',
  roleArn: 'arn:aws:iam::123456789012:role/DataRestoreRole-prod',
  packageName: 'prod',
  bucket: 'example-backups',
  cfnExport: 'backup-bucket',
  cfnRegion: 'eu-central-1',
  mfaSerial: 'arn:aws:iam::123456789012:mfa/admin',
  createdAt: '2026-11-26T08:00:00.000Z',
}

t.test('round trip: every field comes back, in memory', async (t) => {
  const bytes = await sealPackage(FULL, PASSWORD, { kdf: CHEAP })
  t.same(await openPackage(bytes, PASSWORD, 'p.pkg'), FULL)
  const minimal = { accessKeyId: FULL.accessKeyId, secretAccessKey: FULL.secretAccessKey, createdAt: FULL.createdAt }
  t.same(await openPackage(await sealPackage(minimal, PASSWORD, { kdf: CHEAP }), PASSWORD, 'p.pkg'), minimal)
  t.notOk(bytes.includes(Buffer.from(FULL.secretAccessKey)), 'the secret is not in the package in the clear')
  t.notOk(bytes.includes(Buffer.from(FULL.accessKeyId)), 'nor is the key ID')
})

t.test('a non-ASCII password works', async (t) => {
  const pw = Buffer.from('pässwörd ✓ 密码')
  t.same(await openPackage(await sealPackage(FULL, pw, { kdf: CHEAP }), pw, 'p.pkg'), FULL)
})

t.test('salt and nonce are fresh for every package', async (t) => {
  const a = await sealPackage(FULL, PASSWORD, { kdf: CHEAP })
  const b = await sealPackage(FULL, PASSWORD, { kdf: CHEAP })
  t.notSame(a.subarray(OFFSET.salt, OFFSET.salt + SALT_BYTES), b.subarray(OFFSET.salt, OFFSET.salt + SALT_BYTES), 'salts differ')
  t.notSame(a.subarray(OFFSET.nonce, OFFSET.ciphertextLength), b.subarray(OFFSET.nonce, OFFSET.ciphertextLength), 'nonces differ')
  t.notSame(a.subarray(OFFSET.ciphertext), b.subarray(OFFSET.ciphertext), 'ciphertexts differ')
})

t.test('a wrong password says exactly that it is wrong or the file altered', async (t) => {
  const bytes = await sealPackage(FULL, PASSWORD, { kdf: CHEAP })
  const err = await openPackage(bytes, Buffer.from('correct horse battery stapler'), 'creds.pkg').catch((e: unknown) => e)
  t.ok(err instanceof WrongPasswordOrAlteredError)
  t.equal((err as Error).message, 'creds.pkg: wrong password, or the file has been altered (the two cannot be told apart)')
  t.equal((err as WrongPasswordOrAlteredError).exitStatus, 2)
  await t.rejects(openPackage(bytes, Buffer.alloc(0), 'creds.pkg'), WrongPasswordOrAlteredError, 'empty password too')
})

/**
 * What a tampered byte must give, from the documented layout and limits
 * (sysbackup-packcreds(1), FORMAT): structural fields and out-of-range
 * parameters are malformed; everything else is authenticated, so any
 * change is "wrong password or altered".
 */
function expected(offset: number, tampered: Buffer): { cls: 'malformed' | 'altered', message?: RegExp } {
  if (offset < OFFSET.version) return { cls: 'malformed', message: /malformed credentials package: not an s3-sysbackup credentials package/ }
  if (offset === OFFSET.version) return { cls: 'malformed', message: /format version \d+ is not supported \(this s3-sysbackup reads version 1\)/ }
  if (offset === OFFSET.kdf) return { cls: 'malformed', message: /unknown key derivation function id/ }
  if (offset < OFFSET.salt) {
    const log2N = tampered.readUInt8(OFFSET.log2N)
    const r = tampered.readUInt32BE(OFFSET.r)
    const p = tampered.readUInt32BE(OFFSET.p)
    const ok = log2N >= 1 && log2N <= 32 && r >= 1 && r <= 1024 && p >= 1 && p <= 16 && log2N < 16 * r &&
      128 * r * 2 ** log2N <= 4 * 1024 ** 3
    return ok ? { cls: 'altered' } : { cls: 'malformed', message: /scrypt/ }
  }
  if (offset === OFFSET.cipher) return { cls: 'malformed', message: /unknown cipher id/ }
  if (offset >= OFFSET.ciphertextLength && offset < OFFSET.ciphertext) {
    return { cls: 'malformed', message: /truncated credentials package: .*header announces|unexpected bytes after the end|more than the 65536/ }
  }
  return { cls: 'altered' }
}

t.test('every single-byte tamper of a package is detected, with the right message', async (t) => {
  const original = await sealPackage(FULL, PASSWORD, { kdf: CHEAP })
  const regions = { header: 0, salt: 0, nonce: 0, ciphertext: 0, tag: 0 }
  let checked = 0
  for (let offset = 0; offset < original.length; offset++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const tampered = Buffer.from(original)
      tampered[offset]! ^= mask
      const want = expected(offset, tampered)
      const err = await openPackage(tampered, PASSWORD, 'p.pkg').then(() => null, (e: unknown) => e)
      const where = `byte ${offset} ^ 0x${mask.toString(16)}`
      if (want.cls === 'altered') {
        if (!(err instanceof WrongPasswordOrAlteredError)) t.fail(`${where}: expected wrong-password-or-altered, got ${String(err)}`)
      } else {
        if (!(err instanceof MalformedPackageError)) t.fail(`${where}: expected malformed, got ${String(err)}`)
        else if (!want.message!.test(err.message)) t.fail(`${where}: message "${err.message}"`)
      }
      checked++
    }
    const region = offset < OFFSET.salt ? 'header' : offset < OFFSET.cipher ? 'salt' : offset < OFFSET.nonce ? 'header'
      : offset < OFFSET.ciphertextLength ? 'nonce' : offset < OFFSET.ciphertext ? 'header'
      : offset < original.length - TAG_BYTES ? 'ciphertext' : 'tag'
    regions[region]++
  }
  t.equal(checked, original.length * 3, `${checked} tampered copies, each rejected as expected`)
  t.same(regions, { header: 8 + 1 + 1 + 9 + 1 + 4, salt: 32, nonce: 12, ciphertext: original.length - 68 - 16, tag: 16 }, 'every region covered')
})

t.test('every truncation is reported as truncated, before any key is derived', async (t) => {
  const original = await sealPackage(FULL, PASSWORD, { kdf: CHEAP })
  for (let length = 0; length < original.length; length++) {
    const err = await openPackage(original.subarray(0, length), PASSWORD, 'p.pkg').then(() => null, (e: unknown) => e)
    if (!(err instanceof MalformedPackageError) || !err.truncated || !/^p\.pkg: truncated credentials package: /.test(err.message)) {
      t.fail(`${length} bytes: ${String(err)}`)
    }
  }
  t.pass(`all ${original.length} prefixes reported as truncated`)
})

t.test('bytes appended, or not a package at all: malformed', async (t) => {
  const original = await sealPackage(FULL, PASSWORD, { kdf: CHEAP })
  await t.rejects(openPackage(Buffer.concat([original, Buffer.from('\n')]), PASSWORD, 'p.pkg'),
    { constructor: MalformedPackageError, message: 'p.pkg: malformed credentials package: 1 unexpected bytes after the end of the package' })
  await t.rejects(openPackage(Buffer.from('[default]\naws_access_key_id = AKIA\n'), PASSWORD, 'p.pkg'),
    { constructor: MalformedPackageError, message: /not an s3-sysbackup credentials package/ })
  await t.rejects(openPackage(Buffer.from('S3SB'), PASSWORD, 'p.pkg'),
    { constructor: MalformedPackageError, message: 'p.pkg: truncated credentials package: the file is only 4 bytes long' })
})
