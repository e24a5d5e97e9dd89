import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { MalformedPackageError, WrongPasswordOrAlteredError } from './errors.js'
import { DEFAULT_KDF, deriveKey, type KdfParams } from './kdf.js'
import { encodeHeader, NONCE_BYTES, parsePackage, SALT_BYTES, TAG_BYTES, type PackageHeader } from './package-format.js'
import { encodePayload, toPayload, type CredentialsPayload } from './payload.js'

const CIPHER = 'aes-256-gcm'

export interface SealOptions {
  /** Key derivation parameters; DEFAULT_KDF unless given (tests use cheap ones). */
  kdf?: KdfParams
}

/**
 * Encrypts a payload under a password into the bytes of a package (see
 * package-format.ts): fresh random salt and nonce, scrypt key, AES-256-GCM
 * with the header as associated data. The cleartext exists only in memory;
 * the derived key and the encoded payload are zeroed before returning. The
 * password stays the caller's to zero.
 */
export async function sealPackage(payload: CredentialsPayload, password: Uint8Array, options: SealOptions = {}): Promise<Buffer> {
  const kdf = options.kdf ?? DEFAULT_KDF
  const salt = randomBytes(SALT_BYTES)
  const nonce = randomBytes(NONCE_BYTES)
  const plaintext = encodePayload(payload)
  let key: Buffer | undefined
  try {
    key = await deriveKey(password, salt, kdf)
    // GCM is a stream mode: the ciphertext is exactly as long as the plaintext.
    const header: PackageHeader = { kdf, salt, nonce, ciphertextLength: plaintext.length }
    const headerBytes = encodeHeader(header)
    const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(headerBytes)
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
    return Buffer.concat([headerBytes, ciphertext, cipher.getAuthTag()])
  } finally {
    key?.fill(0)
    plaintext.fill(0)
  }
}

/**
 * Decrypts the bytes of a package with a password, in memory only.
 * Throws MalformedPackageError (truncated or malformed: checked before any
 * key is derived) or WrongPasswordOrAlteredError (the tag does not match),
 * both naming `file`. The derived key and the decrypted bytes are zeroed;
 * the password stays the caller's to zero.
 */
export async function openPackage(bytes: Buffer, password: Uint8Array, file: string): Promise<CredentialsPayload> {
  const parsed = parsePackage(bytes, file)
  const { kdf, salt, nonce } = parsed.header
  let key: Buffer | undefined
  let plaintext: Buffer | undefined
  try {
    key = await deriveKey(password, salt, kdf)
    const decipher = createDecipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(parsed.headerBytes)
    decipher.setAuthTag(parsed.tag)
    const head = decipher.update(parsed.ciphertext)
    try {
      plaintext = Buffer.concat([head, decipher.final()])
    } catch {
      throw new WrongPasswordOrAlteredError(file)
    } finally {
      head.fill(0)
    }
    let value: unknown
    try {
      value = JSON.parse(plaintext.toString('utf8'))
    } catch {
      value = undefined
    }
    const payload = toPayload(value)
    if (!payload) throw new MalformedPackageError(file, 'the decrypted content is not a credentials payload (written by another program?)')
    return payload
  } finally {
    key?.fill(0)
    plaintext?.fill(0)
  }
}
