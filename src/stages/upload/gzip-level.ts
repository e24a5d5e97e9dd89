import { UsageError } from '../../cli/errors.js'
import { SCHEMA } from '../../config/schema.js'

/**
 * The zlib level content is gzip-encoded with: `--gzip-level N` of the
 * archive and the upload stage, else `[content] gzip_level` (default 1).
 * 0 stores every content as it is, whatever the hash stage judged.
 *
 * Why level 1 by default, measured on this project's machines, one core:
 *
 *   input (stored size, MiB/s) level 1      level 2      level 4      level 6 (zlib's default)
 *   bench tree, 503 MiB of text 34.5%  86    34.0%  81    32.2%  57    31.2%  23
 *   /usr/share/man, libraries,  40.3%  67    39.6%  56    38.2%  46    37.2%  28
 *     /etc: 735 MiB
 *
 * From level 4 on zlib searches for longer matches (deflate_slow), and a
 * first backup's profile showed that search as a third of its CPU. A first
 * run of the 20,000-file bench tree into a local store in tmpfs, 3 pairs
 * side by side: level 1 took 19.4 s against 23.6 at level 4 (median ratio
 * 0.86, CPU 29.1 s against 35.8), and stored 536.4 MiB against 524.7
 * (2.2% more; the text alone 5 to 7% more). Restic, the peer measured in
 * the benchmark, also compresses at its fastest setting by default. Bytes
 * stored cost cents a month per gigabyte; the CPU is paid by every run
 * that stores new content, on the machine being backed up.
 */
export const DEFAULT_GZIP_LEVEL: number = SCHEMA.content.gzip_level.default
const MAX_GZIP_LEVEL: number = SCHEMA.content.gzip_level.max

/** The `--gzip-level N` option (one wording for archive and sysbackup-upload). */
export const GZIP_LEVEL_OPTION = {
  name: 'gzip-level',
  type: 'number',
  arg: 'N',
  help: 'zlib level of content stored gzip-encoded: 1 fastest to 9 smallest; 0 stores content as it is (default: [content] gzip_level, 1)',
} as const

/**
 * The level `--gzip-level` gives (`option`), checked; undefined when it
 * is not given (then `[content] gzip_level` holds, which the configuration
 * loader has checked). Throws UsageError (exit 2) for an option that is
 * not a whole number from 0 to 9.
 */
export function gzipLevelOf(option: number | undefined): number | undefined {
  if (option === undefined) return undefined
  if (!Number.isInteger(option) || option < 0 || option > MAX_GZIP_LEVEL) {
    throw new UsageError(`option --gzip-level: ${option} is not a whole number from 0 to ${MAX_GZIP_LEVEL}`)
  }
  return option
}
