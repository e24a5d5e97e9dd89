import { UserError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'

/**
 * The password is wrong, or the package was altered after it was written.
 * AES-256-GCM authenticates header and ciphertext together, so a failed tag
 * check cannot tell the two apart, and the message says exactly that.
 * Exit status 2 (EXIT.USAGE): nothing was done; try again with the right
 * password or an intact copy.
 */
export class WrongPasswordOrAlteredError extends UserError {
  override readonly name = 'WrongPasswordOrAlteredError'
  constructor(readonly file: string) {
    super(`${file}: wrong password, or the file has been altered (the two cannot be told apart)`, EXIT.USAGE)
  }
}

/**
 * The file is not a credentials package this build can read: cut short,
 * not a package at all, a format version or KDF/cipher it does not know, or
 * parameters beyond its limits. Detected before any key is derived, from
 * the structure alone. Exit status 2 (EXIT.USAGE).
 */
export class MalformedPackageError extends UserError {
  override readonly name = 'MalformedPackageError'
  constructor(readonly file: string, readonly detail: string, readonly truncated = false) {
    super(`${file}: ${truncated ? 'truncated' : 'malformed'} credentials package: ${detail}`, EXIT.USAGE)
  }
}
