import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_START_FLAGS } from '../../src/cli/node-flags.js'

/**
 * The repository root: the nearest directory above this file holding
 * package.json. Benchmarks run compiled from bench/out/, so a fixed number
 * of `..` would depend on the output layout.
 */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url))
    dir = up
  }
  return dir
})()

/**
 * The argv that starts the package's `bin/NAME.js` as the file itself does,
 * with its node flags, but with this bench's node rather than PATH's.
 */
export function ourProgram(name: string): string[] {
  return [process.execPath, ...NODE_START_FLAGS, join(ROOT, 'bin', `${name}.js`)]
}

/** `../shared/bench/NAME` beside the repository (a worktree sits one level deeper: /work/shared as the fallback). */
export function sharedScript(name: string): string {
  const candidates = [resolve(ROOT, '../shared/bench', name), join('/work/shared/bench', name)]
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!
}
