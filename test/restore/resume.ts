import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, runBin } from '../helpers/bin.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { textOf } from '../helpers/files.js'
import { compareTrees } from '../helpers/tree-compare.js'

const FILES = 1200

/** Runs sysbackup-restore and kills it with `signal` once it has reported `after` restored entries. */
function runAndKill(args: string[], after: number, signal: NodeJS.Signals): Promise<{ reported: number, status: number | null, signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env }
    delete env.NODE_OPTIONS
    const child = spawn(process.execPath, [join(ROOT, 'bin/sysbackup-restore.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let reported = 0
    let text = ''
    let killed = false
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      text += chunk
      const lines = text.split('\n')
      text = lines.pop()!
      reported += lines.filter((l) => l.includes('"type":"restore"') && l.includes('"action":"written"')).length
      if (!killed && reported >= after) {
        killed = true
        child.kill(signal)
      }
    })
    child.stderr.resume()
    child.on('error', reject)
    child.on('exit', (status, sig) => resolve({ reported, status, signal: sig }))
  })
}

t.test('killed in the middle, then run again: the restore completes, and what was done is skipped', async (t) => {
  const base = t.testdir({})
  const src = join(base, 'src')
  for (let d = 0; d < 12; d++) {
    mkdirSync(join(src, `d${d}`), { recursive: true })
    for (let f = 0; f < FILES / 12; f++) writeFileSync(join(src, `d${d}`, `f${f}.txt`), textOf(1000 + d * 100 + f))
  }
  const backup = await runBackup(src, join(base, 'work'), { host: 'h', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: ['--store', join(base, 'store')] })
  const target = join(base, 'target')
  const args = ['--store', join(base, 'store'), '--key', backup.key, '--target', target, '--jobs', '2']

  const first = await runAndKill(args, 150, 'SIGKILL')
  t.equal(first.signal, 'SIGKILL', 'killed before it finished')
  t.ok(first.reported >= 150 && first.reported < FILES, `${first.reported} files reported written before the kill`)

  const second = await runBin('sysbackup-restore', args, { timeoutMs: 120_000 })
  t.equal(second.status, 0, second.stderr)
  const counts = second.records().at(-1)!.counts as Record<string, number>
  t.ok(counts.skipped! >= first.reported, `${counts.skipped} skipped (at least the ${first.reported} reported)`)
  t.equal(counts.skipped! + counts.written!, FILES, 'every file either skipped or written')
  t.ok(counts['req.GetObject']! <= FILES - first.reported + 1, 'only what was not done is downloaded again')
  t.same(await compareTrees(src, join(target, src)), [], 'identical, with no temporary file left behind')
})

t.test('SIGTERM stops it at once with status 130; the rerun finishes', async (t) => {
  const base = t.testdir({})
  const src = join(base, 'src')
  mkdirSync(src)
  for (let f = 0; f < 600; f++) writeFileSync(join(src, `f${f}`), textOf(3000 + f))
  const backup = await runBackup(src, join(base, 'work'), { host: 'h', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: ['--store', join(base, 'store')] })
  const target = join(base, 'target')
  const args = ['--store', join(base, 'store'), '--key', backup.key, '--target', target, '--jobs', '1']
  const first = await runAndKill(args, 50, 'SIGTERM')
  t.equal(first.status, 130)
  const second = await runBin('sysbackup-restore', args, { timeoutMs: 120_000 })
  t.equal(second.status, 0, second.stderr)
  t.same(await compareTrees(src, join(target, src)), [])
})
