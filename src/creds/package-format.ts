import { MalformedPackageError } from './errors.js'
import { kdfParamsProblem, type KdfParams } from './kdf.js'

/**
 * The binary layout of a credentials package, format version 1. All
 * integers are unsigned big-endian. Bytes 0–67 are the header; the whole
 * header is the associated data of AES-256-GCM, so changing any byte of it
 * (parameters, salt, nonce, lengths) makes the tag check fail.
 *
 * | offset | size | field                                        |
 * | ------ | ---- | -------------------------------------------- |
 * | 0      | 8    | magic, ASCII `S3SBCRED`                      |
 * | 8      | 1    | format version: 1                            |
 * | 9      | 1    | key derivation: 1 = scrypt                   |
 * | 10     | 1    | scrypt log2(N)                               |
 * | 11     | 4    | scrypt r                                     |
 * | 15     | 4    | scrypt p                                     |
 * | 19     | 32   | salt (random)                                |
 * | 51     | 1    | cipher: 1 = AES-256-GCM                      |
 * | 52     | 12   | nonce (random)                               |
 * | 64     | 4    | ciphertext length n                          |
 * | 68     | n    | ciphertext of the JSON payload               |
 * | 68+n   | 16   | GCM authentication tag                       |
 *
 * sysbackup-packcreds(1), section FORMAT, documents the same table.
 */
export const MAGIC = Buffer.from('S3SBCRED', 'ascii')
export const FORMAT_VERSION = 1
export const KDF_SCRYPT = 1
export const CIPHER_AES_256_GCM = 1
export const SALT_BYTES = 32
export const NONCE_BYTES = 12
export const TAG_BYTES = 16

/** Offsets of the header fields (see the table above). */
export const OFFSET = Object.freeze({
  magic: 0,
  version: 8,
  kdf: 9,
  log2N: 10,
  r: 11,
  p: 15,
  salt: 19,
  cipher: 51,
  nonce: 52,
  ciphertextLength: 64,
  ciphertext: 68,
})
export const HEADER_BYTES = OFFSET.ciphertext

/** Largest ciphertext accepted: a payload is a few hundred bytes. */
export const MAX_CIPHERTEXT_BYTES = 64 * 1024
/** Largest package file accepted. */
export const MAX_PACKAGE_BYTES = HEADER_BYTES + MAX_CIPHERTEXT_BYTES + TAG_BYTES

/** The decoded header of a package. */
export interface PackageHeader {
  kdf: KdfParams
  salt: Buffer
  nonce: Buffer
  ciphertextLength: number
}

/** A package split into its parts, structure checked but not yet authenticated. */
export interface ParsedPackage {
  header: PackageHeader
  /** The raw header bytes: the associated data of the cipher. */
  headerBytes: Buffer
  ciphertext: Buffer
  tag: Buffer
}

/** Encodes a header (format version 1). */
export function encodeHeader(header: PackageHeader): Buffer {
  if (header.salt.length !== SALT_BYTES) throw new RangeError(`salt must be ${SALT_BYTES} bytes`)
  if (header.nonce.length !== NONCE_BYTES) throw new RangeError(`nonce must be ${NONCE_BYTES} bytes`)
  const problem = kdfParamsProblem(header.kdf)
  if (problem) throw new RangeError(problem)
  const out = Buffer.alloc(HEADER_BYTES)
  MAGIC.copy(out, OFFSET.magic)
  out.writeUInt8(FORMAT_VERSION, OFFSET.version)
  out.writeUInt8(KDF_SCRYPT, OFFSET.kdf)
  out.writeUInt8(header.kdf.log2N, OFFSET.log2N)
  out.writeUInt32BE(header.kdf.r, OFFSET.r)
  out.writeUInt32BE(header.kdf.p, OFFSET.p)
  header.salt.copy(out, OFFSET.salt)
  out.writeUInt8(CIPHER_AES_256_GCM, OFFSET.cipher)
  header.nonce.copy(out, OFFSET.nonce)
  out.writeUInt32BE(header.ciphertextLength, OFFSET.ciphertextLength)
  return out
}

/**
 * Checks the structure of a package and splits it. Throws
 * MalformedPackageError naming `file`: `truncated` when the bytes end
 * before the structure does (or are a strict prefix of the magic),
 * otherwise malformed (not a package, unknown version, KDF or cipher,
 * parameters beyond the limits, bytes after the end). Nothing here proves
 * the bytes are authentic; only the GCM tag does.
 */
export function parsePackage(bytes: Buffer, file: string): ParsedPackage {
  const malformed = (detail: string) => new MalformedPackageError(file, detail)
  const truncated = (detail: string) => new MalformedPackageError(file, detail, true)

  const magicPart = bytes.subarray(0, MAGIC.length)
  if (!MAGIC.subarray(0, magicPart.length).equals(magicPart)) {
    throw malformed('not an s3-sysbackup credentials package (its first bytes are not "S3SBCRED")')
  }
  if (bytes.length <= OFFSET.version) throw truncated(`the file is only ${bytes.length} bytes long`)
  const version = bytes.readUInt8(OFFSET.version)
  if (version !== FORMAT_VERSION) {
    throw malformed(`format version ${version} is not supported (this s3-sysbackup reads version ${FORMAT_VERSION})`)
  }
  if (bytes.length < HEADER_BYTES) throw truncated(`the file is only ${bytes.length} bytes long, shorter than the ${HEADER_BYTES}-byte header`)
  const kdfId = bytes.readUInt8(OFFSET.kdf)
  if (kdfId !== KDF_SCRYPT) throw malformed(`unknown key derivation function id ${kdfId}`)
  const kdf: KdfParams = { log2N: bytes.readUInt8(OFFSET.log2N), r: bytes.readUInt32BE(OFFSET.r), p: bytes.readUInt32BE(OFFSET.p) }
  const problem = kdfParamsProblem(kdf)
  if (problem) throw malformed(problem)
  const cipherId = bytes.readUInt8(OFFSET.cipher)
  if (cipherId !== CIPHER_AES_256_GCM) throw malformed(`unknown cipher id ${cipherId}`)
  const ciphertextLength = bytes.readUInt32BE(OFFSET.ciphertextLength)
  if (ciphertextLength > MAX_CIPHERTEXT_BYTES) {
    throw malformed(`the header announces ${ciphertextLength} bytes of ciphertext, more than the ${MAX_CIPHERTEXT_BYTES} a package can hold`)
  }
  const expected = HEADER_BYTES + ciphertextLength + TAG_BYTES
  if (bytes.length < expected) throw truncated(`the file is ${bytes.length} bytes long, its header announces ${expected}`)
  if (bytes.length > expected) throw malformed(`${bytes.length - expected} unexpected bytes after the end of the package`)
  return {
    header: {
      kdf,
      salt: Buffer.from(bytes.subarray(OFFSET.salt, OFFSET.salt + SALT_BYTES)),
      nonce: Buffer.from(bytes.subarray(OFFSET.nonce, OFFSET.nonce + NONCE_BYTES)),
      ciphertextLength,
    },
    headerBytes: Buffer.from(bytes.subarray(0, HEADER_BYTES)),
    ciphertext: Buffer.from(bytes.subarray(HEADER_BYTES, HEADER_BYTES + ciphertextLength)),
    tag: Buffer.from(bytes.subarray(HEADER_BYTES + ciphertextLength)),
  }
}
