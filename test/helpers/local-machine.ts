/**
 * A machine for the adversarial-tree tests: a configuration whose picker
 * picks one tree, archiving into a local directory store (moto stays out
 * of the timings), and its restore.
 */
import type { Test } from 'tap'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runBin, type BinResult } from './bin.js'
import { testDir } from './files.js'

export interface Local {
  tree: string
  store: string
  archive(...extra: string[]): Promise<BinResult>
  restore(target: string): Promise<BinResult>
}

/** A tree filled by `fill`, and the machine that backs it up. */
export function local(t: Test, fill: (tree: string) => void): Local {
  const dir = testDir(t)
  const tree = join(dir, 'tree')
  const conf = join(dir, 'conf.d')
  const store = join(dir, 'store')
  mkdirSync(tree, { recursive: true })
  mkdirSync(join(conf, 'pickers.d'), { recursive: true })
  writeFileSync(join(conf, 'conf'), `[s3]\nbucket = file:${store}\n[content]\nlock_timeout = 0\n`)
  writeFileSync(join(conf, 'pickers.d', '10-tree'), `#!/bin/sh\nexec find '${tree}' -print0\n`)
  chmodSync(join(conf, 'pickers.d', '10-tree'), 0o755)
  fill(tree)
  return {
    tree,
    store,
    archive: (...extra) => runBin('s3-sysbackup', ['archive', '--config', conf, '--state-dir', join(dir, 'state'), '--host', 'box1', '--json', '--no-progress', ...extra], { timeoutMs: 280_000 }),
    restore: (target) => runBin('s3-sysbackup', ['restore', '--config', conf, '--host', 'box1', '--target', target, '--yes'], { timeoutMs: 280_000 }),
  }
}
