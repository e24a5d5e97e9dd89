/** A "package" is one CloudFormation stack; this is its default name. */
export const DEFAULT_PACKAGE = 's3-sysbackup'

/** CloudFormation stack names: a letter, then letters, digits and hyphens, 128 at most. */
export function validPackageName(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(name)
}
