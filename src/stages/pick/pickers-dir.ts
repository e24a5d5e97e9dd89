import { join } from 'node:path'
import { ConfigError } from '../../cli/errors.js'
import { listPrograms, type Program } from '../../util/programs-dir.js'

/** A picker program to run. */
export type Picker = Program

/**
 * The pickers of the configuration directory `configDir`: the programs of
 * `configDir/pickers.d` (see listPrograms: byte order of name, dot names
 * ignored, anything but an executable a ConfigError). A missing pickers.d
 * is a ConfigError too: a backup that picks nothing is a broken setup.
 */
export function listPickers(configDir: string): Picker[] {
  const dir = join(configDir, 'pickers.d')
  const pickers = listPrograms(dir, 'picker')
  if (pickers === null) throw new ConfigError(`${dir}: no pickers directory (put executable pickers there, or read paths with --stdin)`)
  return pickers
}
