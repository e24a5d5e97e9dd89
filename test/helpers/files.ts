import { spawn } from 'node:child_process'
import type { Test } from 'tap'

/**
 * Compressible text of exactly `bytes` bytes, like a config file or a log:
 * numbered `key = value` lines.
 */
export function textOf(bytes: number): string {
  let text = ''
  for (let i = 0; text.length < bytes; i++) text += `option_${i % 97} = value-${i} # setting for host ${i % 13}\n`
  return text.slice(0, bytes)
}

/**
 * Runs `flock -x PATH` (util-linux) holding an exclusive lock on `path`
 * for `seconds`, and resolves once the lock is held. Resolves to a function
 * that ends the holder (releasing the lock), which also runs when the test ends.
 */
export async function holdExclusiveLock(t: Test, path: string, seconds: number): Promise<() => void> {
  // A process group of its own, so flock and the sleep holding the lock are ended together.
  const child = spawn('flock', ['-x', path, '-c', `echo locked; exec sleep ${seconds}`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  const end = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGTERM')
  }
  t.teardown(end)
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`flock exited with ${code} before taking the lock`)))
    child.stdout!.once('data', () => resolve())
  })
  child.removeAllListeners('exit')
  return end
}

const fixtureDirs = new WeakSet<Test>()

/**
 * The test's fixture directory (t.testdirName), made empty on first use in
 * each test, since a run killed earlier may have left one behind with
 * stale files, and removed by tap when the test ends.
 */
export function testDir(t: Test): string {
  if (!fixtureDirs.has(t)) {
    fixtureDirs.add(t)
    t.testdir({})
  }
  return t.testdirName
}
