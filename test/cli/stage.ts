import t from 'tap'
import { RecordError } from '../../src/protocol/read-records.js'
import { runStage, startStage, type StageRun, type StageSpec } from '../../src/cli/stage.js'
import { ConfigError } from '../../src/cli/errors.js'
import type { Rec } from '../../src/protocol/records.js'
import { testIO, wrapStream } from '../helpers/io.js'

/** A toy stage: marks `item` records, reports `bad` ones as errors, refuses `poison`. */
const toy: StageSpec = {
  name: 'sysbackup-toy',
  synopsis: '[--fail-config]',
  summary: 'A test stage.',
  options: [{ name: 'fail-config', type: 'flag', help: 'pretend the configuration is bad' }],
  readsRecords: true,
  async start(ctx, args) {
    if (args.flag('fail-config')) throw new ConfigError('/etc/backup/conf:3: unknown setting "x"')
    ctx.headerFields.runTime = '2026-01-01T00:00:00.000Z'
    return (async function* (): AsyncGenerator<Rec> {
      for await (const rec of ctx.input()) {
        if (rec.type === 'poison') throw new RecordError(rec, 'poison record cannot be handled')
        if (rec.type === 'bad') { yield ctx.problem('error', 'bad item', { path: '/x' }); continue }
        if (rec.type === 'item') { ctx.count('items'); yield { ...rec, seen: true }; continue }
        yield rec
      }
    })()
  },
}

t.test('passes unknown records, adds header and an ok trailer', async (t) => {
  const io = testIO(wrapStream('up', [{ type: 'item' }, { type: 'other', z: 1 }]))
  t.equal(await runStage(toy, [], io), 0)
  const out = io.records()
  t.match(out[0], { type: 'header', producer: 'sysbackup-toy', protocol: 1, runTime: '2026-01-01T00:00:00.000Z' })
  t.match(out[1], { type: 'header', producer: 'up' })
  t.match(out[2], { type: 'item', seen: true })
  t.same(out[3], { type: 'other', z: 1 })
  t.match(out[5], { type: 'trailer', producer: 'sysbackup-toy', ok: true, counts: { items: 1, records: 2, errors: 0 } })
  t.equal(out.length, 6)
})

t.test('per-item errors: stream goes on, trailer not ok, exit 1', async (t) => {
  const io = testIO(wrapStream('up', [{ type: 'bad' }, { type: 'item' }]))
  t.equal(await runStage(toy, [], io), 1)
  const out = io.records()
  t.match(out[2], { type: 'error', stage: 'sysbackup-toy', message: 'bad item', path: '/x' })
  t.match(out.at(-1), { type: 'trailer', ok: false, reason: '1 error(s)' })
  t.equal(io.err(), 'sysbackup-toy: /x: bad item\n')
})

t.test('a cut-off input: everything passed on, then exit 1', async (t) => {
  const io = testIO(wrapStream('up', [{ type: 'item' }]).slice(0, -1))
  t.equal(await runStage(toy, [], io), 1)
  const out = io.records()
  t.match(out.at(-1), { type: 'trailer', ok: false, reason: /without the trailer of up/ })
  t.match(io.err(), /^sysbackup-toy: stdin: input ended at line 2 without the trailer of up/)
})

t.test('an upstream trailer that is not ok makes ours not ok, but exit 0', async (t) => {
  const io = testIO(wrapStream('up', [{ type: 'item' }], false))
  t.equal(await runStage(toy, [], io), 0)
  t.match(io.records().at(-1), { ok: false, reason: 'upstream: up: not ok' })
})

t.test('protocol error: line named, no ok trailer, exit 3', async (t) => {
  const io = testIO('{"type":"header","producer":"up","protocol":1}\n{"type":"item"}\nnot json\n')
  t.equal(await runStage(toy, [], io), 3)
  t.match(io.err(), /^sysbackup-toy: stdin:3: invalid JSON/)
  t.equal(io.err().split('\n').length, 2, 'one line on stderr')
  const out = io.records()
  t.match(out.at(-1), { type: 'trailer', ok: false })
  t.notOk(out.some((r) => r.type === 'trailer' && r.ok === true), 'nothing claims success')
})

t.test('a record the stage refuses is reported with its line', async (t) => {
  const io = testIO(wrapStream('up', [{ type: 'item' }, { type: 'poison' }]))
  t.equal(await runStage(toy, [], io), 3)
  t.match(io.err(), 'sysbackup-toy: stdin:3: poison record cannot be handled')
})

t.test('configuration and usage errors: exit 2, no output', async (t) => {
  const io = testIO(wrapStream('up', []))
  t.equal(await runStage(toy, ['--fail-config'], io), 2)
  t.equal(io.out(), '')
  t.equal(io.err(), 'sysbackup-toy: /etc/backup/conf:3: unknown setting "x"\n')
  const io2 = testIO('')
  t.equal(await runStage(toy, ['--nope'], io2), 2)
  t.equal(io2.err(), 'sysbackup-toy: unknown option --nope (see --help)\n')
})

t.test('--help and --version', async (t) => {
  const io = testIO('')
  t.equal(await runStage(toy, ['--help'], io), 0)
  t.match(io.out(), /^Usage: sysbackup-toy/)
  t.match(io.out(), /--fail-config/)
  t.match(io.out(), /See sysbackup-toy\(1\)\.\n$/)
  const io2 = testIO('')
  t.equal(await runStage(toy, ['--version'], io2), 0)
  t.match(io2.out(), /^sysbackup-toy \d+\.\d+\.\d+\n$/)
})

t.test('empty input is a protocol error', async (t) => {
  const io = testIO('')
  t.equal(await runStage(toy, [], io), 3)
  t.match(io.err(), 'sysbackup-toy: stdin:1: empty input: expected a header record')
})

// startStage: the same stage inside another command's process (the archive
// wrapper's chain), reading records as objects.

async function* objects(records: Rec[], wait?: Promise<void>): AsyncGenerator<Rec> {
  for (const rec of records) {
    if (wait && rec.type === 'trailer') await wait
    yield rec
  }
}

async function collect(run: StageRun | number): Promise<Rec[]> {
  if (typeof run === 'number') throw new Error(`stage ended at once with ${run}`)
  const out: Rec[] = []
  for await (const rec of run.records) out.push(rec)
  return out
}

t.test('in process: records in and out as objects, with the header, trailer and exit status of the executable', async (t) => {
  const io = testIO()
  const run = await startStage(toy, [], io, { input: objects(wrapStream('up', [{ type: 'item' }, { type: 'bad' }])), signal: new AbortController().signal })
  const out = await collect(run)
  t.match(out.map((r) => r.type), ['header', 'header', 'item', 'error', 'trailer', 'trailer'])
  t.match(out[2], { type: 'item', seen: true })
  t.match(out.at(-1), { type: 'trailer', producer: 'sysbackup-toy', ok: false, reason: '1 error(s)', counts: { items: 1, errors: 1 } })
  t.equal((run as StageRun).status(), 1, 'exit status 1, as for the executable')
  t.equal(io.out(), '', 'nothing written to stdout')
})

t.test('in process: a cut-off input is reported as for a pipe', async (t) => {
  const io = testIO()
  const run = await startStage(toy, [], io, { input: objects(wrapStream('up', [{ type: 'item' }]).slice(0, -1)), signal: new AbortController().signal })
  const out = await collect(run)
  t.match(out.at(-1), { type: 'trailer', ok: false, reason: /without the trailer of up: the stream was cut off/ })
  t.equal((run as StageRun).status(), 1)
})

t.test('in process: aborting with a signal name stops the stage as that signal would', async (t) => {
  const io = testIO()
  const controller = new AbortController()
  let release = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const run = await startStage(toy, [], io, { input: objects(wrapStream('up', [{ type: 'item' }]), held), signal: controller.signal })
  const reading = collect(run)
  setTimeout(() => { controller.abort('SIGTERM'); release() }, 20)
  const out = await reading
  t.match(out.at(-1), { type: 'trailer', producer: 'sysbackup-toy', ok: false, reason: 'interrupted by SIGTERM' })
  t.equal((run as StageRun).status(), 130)
})

t.test('in process: usage errors end the stage before its header, with their status', async (t) => {
  const io = testIO()
  t.equal(await startStage(toy, ['--fail-config'], io, { signal: new AbortController().signal }), 2)
  t.match(io.err(), /sysbackup-toy: .*unknown setting "x"/)
})
