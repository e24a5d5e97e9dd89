import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { runArchiveInProcess } from '../../src/archive/in-process-pipeline.js'
import { UsageError } from '../../src/cli/errors.js'
import type { StageSpec } from '../../src/cli/stage.js'
import { RecordReader } from '../../src/protocol/read-records.js'
import type { Rec } from '../../src/protocol/records.js'
import type { InputSource } from '../../src/stages/manifest/collect-inputs.js'
import { snapStage } from '../../src/stages/snap/snap-stage.js'
import { testDir } from '../helpers/files.js'

// runArchiveInProcess with toy stages in the chain and the sink, and the
// real sysbackup-snap beside them, as a process or inside this one.

/** A chain stage: three `note` records. */
const source: StageSpec = {
  name: 'toy-source',
  synopsis: '',
  summary: 'Three notes.',
  options: [],
  readsRecords: false,
  async start() {
    return (async function* () {
      for (let n = 1; n <= 3; n++) yield { type: 'note', n }
    })()
  },
}

/** A sink that starts reading late (as the manifest stage does while its store opens), and passes on the types it read from each input. */
function lateSink(moreInputs: InputSource[]): StageSpec {
  return {
    name: 'toy-sink',
    synopsis: '',
    summary: 'Reads late.',
    options: [],
    readsRecords: true,
    async start(ctx) {
      return (async function* () {
        await sleep(1500)
        const chain: string[] = []
        for await (const rec of ctx.input()) chain.push(`${String(rec.type)}:${String(rec.producer ?? rec.n)}`)
        yield { type: 'seen', input: 'chain', records: chain }
        for (const input of moreInputs) {
          const side: string[] = []
          const records = 'stream' in input ? new RecordReader(input.stream, { source: input.name }) : input.records
          for await (const rec of records) side.push(`${String(rec.type)}:${String(rec.producer)}`)
          yield { type: 'seen', input: input.name, records: side }
        }
      })()
    },
  }
}

t.test('the side stage\'s records reach a sink that starts reading after the side process has exited', async (t) => {
  const dir = testDir(t)
  const config = join(dir, 'config')
  mkdirSync(join(config, 'snapshots.d'), { recursive: true })
  writeFileSync(join(config, 'conf'), `[s3]\nbucket = file:${join(dir, 'store')}\n`)
  const progress: number[] = []
  const result = await runArchiveInProcess({
    chain: [{ spec: source, args: [] }],
    side: { name: 'sysbackup-snap', args: ['--config', config, '--host', 'box1', '--run-time', '2026-11-26T10:00:00Z'] },
    sink: { spec: lateSink, args: [] },
    env: process.env,
    stderr: process.stderr,
    signal: new AbortController().signal,
    onRecords: (n) => progress.push(n),
  })
  t.same(result.exits.map((e) => [e.name, e.status]), [['toy-source', 0], ['sysbackup-snap', 0], ['toy-sink', 0]])
  const seen = result.sinkRecords.filter((r): r is Rec & { input: string, records: string[] } => r.type === 'seen')
  t.same(seen[0]?.records, ['header:toy-source', 'note:1', 'note:2', 'note:3', 'trailer:toy-source'], 'the chain\'s records, as objects')
  t.same(seen[1], { type: 'seen', input: 'sysbackup-snap', records: ['header:sysbackup-snap', 'trailer:sysbackup-snap'] },
    'the snap process\'s header and trailer, though it had exited long before')
  t.equal(progress.at(-1), 5, 'progress counted every record that reached the sink')
})

t.test('a side stage given as a spec runs in this process, its records reaching the sink as objects', async (t) => {
  const dir = testDir(t)
  const config = join(dir, 'config')
  mkdirSync(config, { recursive: true })
  writeFileSync(join(config, 'conf'), `[s3]\nbucket = file:${join(dir, 'store')}\n`)
  const result = await runArchiveInProcess({
    chain: [{ spec: source, args: [] }],
    side: { spec: snapStage, args: ['--config', config, '--host', 'box1', '--run-time', '2026-11-26T10:00:00Z'] },
    sink: { spec: lateSink, args: [] },
    env: process.env,
    stderr: process.stderr,
    signal: new AbortController().signal,
  })
  t.same(result.exits.map((e) => [e.name, e.status]), [['toy-source', 0], ['sysbackup-snap', 0], ['toy-sink', 0]], 'exits in order: chain, side, sink')
  const seen = result.sinkRecords.filter((r): r is Rec & { input: string, records: string[] } => r.type === 'seen')
  t.same(seen[1], { type: 'seen', input: 'sysbackup-snap', records: ['header:sysbackup-snap', 'trailer:sysbackup-snap'] })
})

t.test('the chain\'s first stage starts its work while the next stage is still loading, and is closed even when that stage never reads it', async (t) => {
  const events: string[] = []
  const eagerSource: StageSpec = {
    ...source,
    async start() {
      return (async function* () {
        events.push('source started')
        try {
          for (let n = 1; n <= 3; n++) yield { type: 'note', n }
        } finally {
          events.push('source closed')
        }
      })()
    },
  }
  /** Loads for a while (as the hash and upload stages load their caches) before it reads; with `fail`, ends before its header. */
  const slowReader = (fail: boolean): StageSpec => ({
    name: 'toy-reader',
    synopsis: '',
    summary: 'Reads after loading.',
    options: [],
    readsRecords: true,
    async start(ctx) {
      if (fail) throw new UsageError('no such option')
      return (async function* () {
        events.push('reader loading')
        await sleep(300)
        events.push('reader reads')
        for await (const rec of ctx.input()) if (rec.type === 'note') yield rec
      })()
    },
  })
  const run = (fail: boolean) => runArchiveInProcess({
    chain: [{ spec: eagerSource, args: [] }, { spec: slowReader(fail), args: [] }],
    side: { spec: source, args: [] },
    sink: { spec: lateSink, args: [] },
    env: process.env,
    stderr: new Writable({ write: (_c, _e, done) => done() }),
    signal: new AbortController().signal,
  })

  const result = await run(false)
  t.same(result.exits.map((e) => [e.name, e.status]), [['toy-source', 0], ['toy-reader', 0], ['toy-source', 0], ['toy-sink', 0]])
  t.same(events, ['source started', 'reader loading', 'reader reads', 'source closed'], 'the source began before the reader first asked')
  const seen = result.sinkRecords.find((r) => r.type === 'seen' && r.input === 'chain')
  t.same(seen?.records, ['header:toy-reader', 'note:1', 'note:2', 'note:3', 'trailer:toy-reader'], 'every record still reaches the reader, in order')

  events.length = 0
  const failed = await run(true)
  // The sink then reads no header from the chain: a failed run, as after a pipe.
  t.same(failed.exits.map((e) => [e.name, e.status]), [['toy-source', 0], ['toy-reader', 2], ['toy-source', 0], ['toy-sink', 3]])
  t.same(events, ['source started', 'source closed'], 'the source, started ahead, is closed when its reader never came')
})
