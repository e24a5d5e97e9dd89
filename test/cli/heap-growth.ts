import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand } from '../../src/cli/command.js'
import { HEAP_GROWING_PERCENT, heapGrowingPercent, RESTORE_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../../src/cli/heap-growth.js'
import { runStage } from '../../src/cli/stage.js'
import { makeRestoreCommand } from '../../src/commands/restore.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { ROOT, runProcess } from '../helpers/bin.js'
import { testIO } from '../helpers/io.js'

/**
 * Keeps about 50 MB live (200,000 strings), then makes records that live
 * long enough to be promoted to the old generation and die there, as a
 * stage's records do; prints the peak of the used heap, in MB.
 */
const CHURN = `
const kept = []
for (let i = 0; i < 200000; i++) kept.push({ i, s: 'k'.repeat(150) + i })
const ring = new Array(50000)
let peak = 0
for (let i = 0; i < 3000000; i++) {
  ring[i % ring.length] = { i, s: 'x'.repeat(100) + i }
  if (i % 10000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed)
}
console.log(Math.round(peak / 1048576), kept.length)
`

async function peakMB(t: Test, nodeArgs: string[]): Promise<number> {
  const script = join(t.testdir({}), 'churn.cjs')
  writeFileSync(script, CHURN)
  const run = await runProcess(process.execPath, [...nodeArgs, script])
  t.equal(run.status, 0, run.stderr)
  return Number(run.stdout.split(' ')[0])
}

t.test('every bin caps how far the heap outgrows what it keeps live', async (t) => {
  // bin.js is what every bin file imports first. About 50 MB stay live: at
  // 1.5 times that plus the young generation the heap peaks near 150 MB; at
  // V8's own factor (up to 4) it went past 350 MB. A factor given to node
  // itself (here 5) is kept, and the heap then peaks far above 250 MB.
  const binJs = join(ROOT, 'dist', 'cli', 'bin.js')
  const asBin = await peakMB(t, ['--import', binJs])
  t.ok(asBin < 200, `peak heap ${asBin} MB as a bin, for about 50 MB kept live`)
  const told = await peakMB(t, ['--heap-growing-percent=400', '--import', binJs])
  t.ok(told > 250, `a --heap-growing-percent given to node is kept: peak heap ${told} MB`)
})

t.test('a factor set while the program runs takes effect from the next collection', async (t) => {
  // What a restore relies on: it raises the factor once it starts.
  const growth = join(ROOT, 'dist', 'cli', 'heap-growth.js')
  const script = join(t.testdir({}), 'raise.mjs')
  writeFileSync(script, `import { setHeapGrowingPercent } from ${JSON.stringify(growth)}\nsetHeapGrowingPercent(400)\n${CHURN}`)
  const run = await runProcess(process.execPath, ['--import', join(ROOT, 'dist', 'cli', 'bin.js'), script])
  t.equal(run.status, 0, run.stderr)
  const raised = Number(run.stdout.split(' ')[0])
  t.ok(raised > 250, `raised to 400 while running: peak heap ${raised} MB`)
})

t.test('a restore, as a stage or as the command, raises the factor to the restore\'s', async (t) => {
  t.equal(heapGrowingPercent(), HEAP_GROWING_PERCENT, 'the bins\' factor before')
  const base = t.testdir({ src: { 'a.conf': 'a = 1\n' } })
  const storeArgs = ['--store', join(base, 'store')]
  const backup = await runBackup(join(base, 'src'), join(base, 'work'), { host: 'h', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs })
  const io = testIO()
  t.equal(await runStage(makeRestoreStage({ confirm: null }), [...storeArgs, '--key', backup.key, '--target', join(base, 'one')], io), 0, io.err())
  t.equal(heapGrowingPercent(), RESTORE_HEAP_GROWING_PERCENT, 'after sysbackup-restore')
  setHeapGrowingPercent(HEAP_GROWING_PERCENT)
  const cmdIO = testIO()
  t.equal(await runCommand(makeRestoreCommand({ confirm: null, host: 'h' }), [...storeArgs, '--target', join(base, 'two'), '--yes'], cmdIO), 0, cmdIO.err())
  t.equal(heapGrowingPercent(), RESTORE_HEAP_GROWING_PERCENT, 'after s3-sysbackup restore')
})
