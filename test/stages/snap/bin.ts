/**
 * The built sysbackup-snap as a real process: configuration errors,
 * SIGTERM in the middle of a snapshot, and memory while streaming a big
 * snapshot.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../../src/config/load-config.js'
import { openStore } from '../../../src/store/open-store.js'
import { ROOT, runBin, runProcess } from '../../helpers/bin.js'
import { parseRecords } from '../../helpers/io.js'
import { testDir } from '../../helpers/files.js'

const BIN = join(ROOT, 'bin/sysbackup-snap.js')
let configs = 0

/** A configuration with a local store and the given bash snapshotters. */
function config(t: Test, scripts: Record<string, string>): string {
  const dir = join(testDir(t), `config-${++configs}`)
  mkdirSync(join(dir, 'snapshots.d'), { recursive: true })
  writeFileSync(join(dir, 'conf'), '[s3]\nbucket = file:store\n')
  for (const [name, body] of Object.entries(scripts)) writeFileSync(join(dir, 'snapshots.d', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 })
  return dir
}

async function storedKeys(configDir: string): Promise<string[]> {
  if (!existsSync(join(configDir, 'store'))) return []
  const store = await openStore(loadConfig(configDir, {}))
  const keys: string[] = []
  for await (const page of store.listVersions('')) for (const v of page) keys.push(v.key)
  return keys
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

t.test('a snapshots.d entry that is not executable: exit 2, one line, nothing run or written', async (t) => {
  const dir = config(t, { '10-ok': `touch ${t.testdirName}/ran; echo x >&$1` })
  writeFileSync(join(dir, 'snapshots.d/20-notes.txt'), 'not a program\n', { mode: 0o644 })
  const r = await runBin('sysbackup-snap', ['--config', dir])
  t.equal(r.status, 2)
  t.equal(r.stdout, '')
  t.equal(r.stderr, `sysbackup-snap: ${dir}/snapshots.d/20-notes.txt: is not executable (mode 0644); snapshots.d may hold only executable files or symlinks to them (names beginning with "." are ignored)\n`)
  t.notOk(existsSync(join(t.testdirName, 'ran')))
})

t.test('SIGTERM during a snapshot: the snapshotter and its children are killed, nothing is stored, exit 130', async (t) => {
  const pids = join(t.testdirName, 'pids')
  const dir = config(t, { '10-slow': `head -c 100000 /dev/zero >&$1; sleep 300 & echo $$ $! > ${pids}; wait` })
  const child = spawn(process.execPath, [BIN, '--config', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  for (let i = 0; i < 200 && !existsSync(pids); i++) await sleep(50)
  await sleep(100)
  child.kill('SIGTERM')
  t.equal(await exited, 130, stderr)
  const records = parseRecords(stdout)
  t.match(records.at(-1), { type: 'trailer', ok: false, reason: 'interrupted by SIGTERM' })
  t.same(records.filter((r) => r.type === 'snapshot' || r.type === 'error'), [], 'no snapshot, and no error for a snapshotter we stopped')
  await sleep(200)
  for (const pid of readFileSync(pids, 'utf8').trim().split(' ').map(Number)) t.notOk(alive(pid), `process ${pid} is gone`)
  t.same(await storedKeys(dir), [], 'nothing stored')
})

t.test('a big snapshot is streamed: peak memory does not grow with its size', async (t) => {
  const MiB = 1024 * 1024
  const dir = config(t, {
    '10-medium': `head -c ${16 * MiB} /dev/zero >&$1`,
    '20-big': `head -c ${128 * MiB} /dev/zero >&$1`,
  })
  // Peak resident memory of the process, from the kernel's rusage of a waiting parent
  // (tap's coverage variables left out: collecting coverage costs memory of its own).
  const peakKiB = async (only: string, size: number): Promise<number> => {
    const r = await runProcess('python3', ['-c',
      'import os, resource, subprocess, sys\n'
      + 'env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_V8", "TAP"))}\n'
      + 'rc = subprocess.call(sys.argv[1:], env=env)\n'
      + 'sys.stderr.write("maxrss %d\\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n'
      + 'sys.exit(rc)',
      process.execPath, BIN, '--config', dir, '--only', only], { timeoutMs: 120_000 })
    t.equal(r.status, 0, r.stderr)
    t.match(r.records().find((x) => x.type === 'snapshot'), { size, sha256: createHash('sha256').update(Buffer.alloc(size)).digest('hex') })
    return Number(/maxrss (\d+)/.exec(r.stderr)![1])
  }
  const medium = await peakKiB('10-medium', 16 * MiB)
  const big = await peakKiB('20-big', 128 * MiB)
  t.comment(`peak RSS: ${medium} KiB for 16 MiB, ${big} KiB for 128 MiB`)
  t.ok(big - medium < 32 * 1024, `112 MiB more snapshot cost ${Math.round((big - medium) / 1024)} MiB more memory`)
})
