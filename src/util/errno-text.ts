import { getSystemErrorMap } from 'node:util'

const TEXT_BY_CODE = new Map([...getSystemErrorMap().values()])

/**
 * The system's description of an errno name, as strerror(3) gives it:
 * "permission denied" for EACCES. The name itself when it is not one.
 */
export function errnoText(code: string): string {
  return TEXT_BY_CODE.get(code) ?? code
}
