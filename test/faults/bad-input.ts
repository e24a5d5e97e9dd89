import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runBin, ROOT, type BinResult } from '../helpers/bin.js'
import { testDir } from '../helpers/files.js'
import { mapUnordered } from '../../src/util/concurrency.js'
import type { Rec } from '../../src/protocol/records.js'

// Every stage that reads records, fed every kind of bad input as a real
// process: a one-line error naming the input line, the documented exit
// status (3 for a protocol error, 1 for a stream cut off), and no output
// that claims success (no ok trailer of the stage's own).

const FIXTURES = join(ROOT, 'test/fixtures/bad-input')
const HEADER = readFileSync(join(FIXTURES, 'missing-type.ndjson'), 'utf8').split('\n')[0]!

interface Input {
  name: string
  bytes: Buffer
  /** What the stages' error line says, after `stdin:LINE: ` (null: the cut-off stream message). */
  line: number | null
  message: RegExp
  status: number
}

const INPUTS: Input[] = [
  { name: 'invalid JSON', bytes: readFileSync(join(FIXTURES, 'invalid-json.ndjson')), line: 2, message: /^invalid JSON \(/, status: 3 },
  { name: 'a JSON value that is not an object', bytes: readFileSync(join(FIXTURES, 'not-an-object.ndjson')), line: 2, message: /^record is not a JSON object$/, status: 3 },
  { name: 'a record without type', bytes: readFileSync(join(FIXTURES, 'missing-type.ndjson')), line: 2, message: /^record has no string "type"$/, status: 3 },
  { name: 'an unknown protocol version', bytes: readFileSync(join(FIXTURES, 'unknown-version.ndjson')), line: 1, message: /^protocol version 99 from sysbackup-pick is newer than this program understands \(1\)$/, status: 3 },
  { name: 'a missing trailer', bytes: readFileSync(join(FIXTURES, 'missing-trailer.ndjson')), line: null, message: /^input ended at line 2 without the trailer of sysbackup-pick: the stream was cut off$/, status: 1 },
  { name: 'a 10 MB line', bytes: Buffer.concat([Buffer.from(`${HEADER}\n{"type":"dir","path":"/`), Buffer.alloc(10_000_000, 'a'), Buffer.from('"}\n')]), line: 2, message: /^line is longer than the limit of 1048576 bytes$/, status: 3 },
  // Seeded garbage with a NUL and a high byte up front, so line 1 is never valid UTF-8.
  { name: 'binary garbage', bytes: Buffer.concat([Buffer.from([0x00, 0xff, 0xfe]), randomBytes(64 * 1024)]), line: 1, message: /^line is not valid UTF-8$/, status: 3 },
  { name: 'an empty stream', bytes: readFileSync(join(FIXTURES, 'empty.ndjson')), line: 1, message: /^empty input: expected a header record$/, status: 3 },
]

const dir = testDir(t)
const conf = join(dir, 'conf.d')
mkdirSync(conf, { recursive: true })
writeFileSync(join(conf, 'conf'), '')
const store = join(dir, 'store')
const env = { S3_SYSBACKUP_CONFIG: conf }
const RUN = ['--host', 'box1', '--run-time', '2026-11-26T08:00:00Z']
const STAGES: { name: string, args: string[] }[] = [
  { name: 'sysbackup-hash', args: ['--state-dir', join(dir, 'state')] },
  { name: 'sysbackup-upload', args: ['--store', store, '--state-dir', join(dir, 'state'), ...RUN] },
  { name: 'sysbackup-manifest', args: ['--store', store, ...RUN, '-'] },
]

/** The runs, made up front a few at a time (each is a process start). */
const runs = new Map<string, BinResult>()
t.before(async () => {
  const jobs = STAGES.flatMap((stage) => INPUTS.map((input) => ({ stage, input })))
  for await (const [key, result] of mapUnordered(jobs, 4, async ({ stage, input }) => [`${stage.name} ${input.name}`, await runBin(stage.name, stage.args, { stdin: input.bytes, env })] as const)) {
    runs.set(key, result)
  }
})

function ownTrailers(records: Rec[], producer: string): Rec[] {
  return records.filter((r) => r.type === 'trailer' && r.producer === producer)
}

for (const stage of STAGES) {
  for (const input of INPUTS) {
    t.test(`${stage.name}: ${input.name}`, async (t) => {
      const run = runs.get(`${stage.name} ${input.name}`)!
      t.equal(run.status, input.status, `exit status ${input.status}`)
      const lines = run.stderr.split('\n').filter((l) => l !== '')
      t.equal(lines.length, 1, `one line on stderr: ${run.stderr.slice(0, 500)}`)
      const prefix = `${stage.name}: stdin${input.line === null ? '' : `:${input.line}`}: `
      t.ok(lines[0]?.startsWith(prefix), `it names the input line: ${lines[0]?.slice(0, 200)}`)
      t.match(lines[0]?.slice(prefix.length), input.message)
      const records = run.records()
      const trailers = ownTrailers(records, stage.name)
      t.equal(trailers.length, 1, 'the stage ends its output with its trailer')
      t.equal(trailers[0]?.ok, false, 'which does not claim success')
      t.notOk(records.some((r) => r.type === 'trailer' && r.ok === true), 'no trailer claims success')
      if (stage.name === 'sysbackup-manifest') {
        const manifest = records.find((r) => r.type === 'manifest')
        if (input.status === 1) t.match(manifest, { complete: false, key: /\.incomplete\.ndjson\.gz$/ }, 'a cut-off stream is stored only as an incomplete manifest')
        else t.equal(manifest, undefined, 'no manifest stored for input that is not a record stream')
      }
    })
  }
}

// sysbackup-restore reads a manifest, forgivingly (a damaged line is
// skipped and reported, the rest restored), but never says a damaged or cut
// off manifest restored completely; input whose first line is no record at
// all is refused as a whole.
const RESTORE: Record<string, { status: number, first: RegExp }> = {
  'invalid JSON': { status: 1, first: /^stdin:2: invalid JSON \(.*\); line skipped$/ },
  'a JSON value that is not an object': { status: 1, first: /^stdin:2: record is not a JSON object; line skipped$/ },
  'a record without type': { status: 1, first: /^stdin:2: record has no string "type"; line skipped$/ },
  'an unknown protocol version': { status: 3, first: /^stdin:1: protocol version 99 from sysbackup-pick is newer than this program understands \(1\)$/ },
  'a missing trailer': { status: 1, first: /^stdin: ended at line 2 without the trailer of sysbackup-pick: the manifest is cut off; the entries after it are not restored$/ },
  'a 10 MB line': { status: 1, first: /^stdin:2: line is longer than the limit of 1048576 bytes; nothing after line 1 was read; the entries after it are not restored$/ },
  'binary garbage': { status: 3, first: /^stdin:1: line is not valid UTF-8: this is not a record stream$/ },
  'an empty stream': { status: 1, first: /^stdin: empty: no records at all; the entries after it are not restored$/ },
}
for (const input of INPUTS) {
  t.test(`sysbackup-restore: ${input.name}`, async (t) => {
    const expected = RESTORE[input.name]!
    const run = await runBin('sysbackup-restore', ['--store', store, '--target', join(dir, 'target')], { stdin: input.bytes, env })
    t.equal(run.status, expected.status, run.stderr)
    const lines = run.stderr.split('\n').filter((l) => l !== '')
    t.ok(lines.length >= 1 && lines.length <= 2, 'at most the problem and the cut-off stream')
    t.match(lines[0]?.replace(/^sysbackup-restore: /, ''), expected.first)
    t.ok(lines.every((l) => l.startsWith('sysbackup-restore: stdin')), 'every line names the input')
    t.notOk(run.records().some((r) => r.type === 'trailer' && r.ok === true), 'no trailer claims success')
  })
}

// sysbackup-pick --stdin reads paths, not records: anything is a path.
t.test('sysbackup-pick --stdin: garbage is names that do not exist (warnings); an empty list is an empty pick', async (t) => {
  const names = ['relative', '\xff\xfe\x01\x02garbage', '/no/such/\x80\x81']
  const garbage = await runBin('sysbackup-pick', ['--stdin', '--null'], { stdin: Buffer.from(names.join('\0'), 'latin1'), env, cwd: dir })
  t.equal(garbage.status, 0, garbage.stderr)
  const records = garbage.records()
  t.equal(records.filter((r) => r.type === 'warning' && r.code === 'ENOENT').length, 3, 'each name is reported missing')
  t.equal(garbage.stderr.split('\n').filter((l) => /^sysbackup-pick: warning: .*: no such file or directory( \(at \/no\))?$/.test(l)).length, 3, 'one line each')
  t.match(ownTrailers(records, 'sysbackup-pick')[0], { counts: { entries: 0, missing: 3 } }, 'nothing picked')
  const empty = await runBin('sysbackup-pick', ['--stdin'], { stdin: '', env })
  t.equal(empty.status, 0)
  t.match(ownTrailers(empty.records(), 'sysbackup-pick')[0], { ok: true, counts: { entries: 0 } })
})
