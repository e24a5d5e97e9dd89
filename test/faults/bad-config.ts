import t from 'tap'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { runBin, type BinResult } from '../helpers/bin.js'
import { testDir } from '../helpers/files.js'
import { mapUnordered } from '../../src/util/concurrency.js'

// Bad configuration, for every command that loads it: a one-line error
// naming the file (and line), exit 2, nothing on stdout, nothing done.

const dir = testDir(t)
const store = join(dir, 'store')
const state = join(dir, 'state')

interface BadConfig {
  name: string
  /** Makes the configuration directory. */
  make(conf: string): void
  /** The error line after `<command>: `. */
  message: (conf: string) => RegExp
  /** Only these commands read what is wrong (default: every one). */
  only?: string[]
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const pickers = (conf: string) => mkdirSync(join(conf, 'pickers.d'), { recursive: true })
const goodPicker = (conf: string) => {
  pickers(conf)
  writeFileSync(join(conf, 'pickers.d', '10-ok'), '#!/bin/sh\n', { mode: 0o755 })
  writeFileSync(join(conf, 'conf'), '')
}

const CASES: BadConfig[] = [
  { name: 'a missing conf', make: () => {}, message: (c) => new RegExp(`^${escape(c)}/conf: missing configuration file$`) },
  { name: 'an unknown section', make: (c) => writeFileSync(join(c, 'conf'), '[content]\ndays_retained = 3\n[bogus]\nx = 1\n'), message: (c) => new RegExp(`^${escape(c)}/conf:3: unknown section \\[bogus\\] \\(known: aws, s3, `) },
  { name: 'an unknown key', make: (c) => writeFileSync(join(c, 'conf'), '[content]\ndays_retaind = 3\n'), message: (c) => new RegExp(`^${escape(c)}/conf:2: unknown setting "days_retaind" in \\[content\\] \\(known: `) },
  { name: 'a bad number', make: (c) => writeFileSync(join(c, 'conf'), '[state]\ndir = /tmp\n[content]\nextend_days = 7 days\n'), message: (c) => new RegExp(`^${escape(c)}/conf:4: \\[content\\] extend_days: "7 days" is not a whole number$`) },
  {
    name: 'a non-executable file in pickers.d',
    make: (c) => { goodPicker(c); writeFileSync(join(c, 'pickers.d', '20-plain'), '#!/bin/sh\n', { mode: 0o644 }) },
    message: (c) => new RegExp(`^${escape(c)}/pickers.d/20-plain: is not executable \\(mode 0644\\); pickers.d may hold only executable files`),
    only: ['s3-sysbackup archive', 'sysbackup-pick'],
  },
  {
    name: 'a FIFO in pickers.d',
    make: (c) => { goodPicker(c); execFileSync('mkfifo', [join(c, 'pickers.d', '20-fifo')]) },
    message: (c) => new RegExp(`^${escape(c)}/pickers.d/20-fifo: is a FIFO, not an executable file`),
    only: ['s3-sysbackup archive', 'sysbackup-pick'],
  },
  {
    name: 'a directory in snapshots.d',
    make: (c) => { goodPicker(c); mkdirSync(join(c, 'snapshots.d', '10-dir'), { recursive: true }) },
    message: (c) => new RegExp(`^${escape(c)}/snapshots.d/10-dir: is a directory, not an executable file`),
    only: ['s3-sysbackup archive', 'sysbackup-snap'],
  },
]

const COMMANDS: { name: string, bin: string, args: string[] }[] = [
  { name: 's3-sysbackup archive', bin: 's3-sysbackup', args: ['archive', '--store', store, '--state-dir', state] },
  { name: 'sysbackup-pick', bin: 'sysbackup-pick', args: [] },
  { name: 'sysbackup-hash', bin: 'sysbackup-hash', args: ['--state-dir', state] },
  { name: 'sysbackup-upload', bin: 'sysbackup-upload', args: ['--store', store, '--state-dir', state] },
  { name: 'sysbackup-snap', bin: 'sysbackup-snap', args: ['--store', store] },
  { name: 'sysbackup-manifest', bin: 'sysbackup-manifest', args: ['--store', store, '-'] },
  { name: 'sysbackup-restore', bin: 'sysbackup-restore', args: ['--store', store, '--target', join(dir, 'target')] },
  { name: 's3-sysbackup list', bin: 's3-sysbackup', args: ['list', '--store', store] },
]

const runs = new Map<string, { conf: string, result: BinResult }>()
t.before(async () => {
  let n = 0
  const jobs = CASES.flatMap((c) => COMMANDS.filter((cmd) => !c.only || c.only.includes(cmd.name)).map((cmd) => ({ c, cmd, conf: join(dir, `conf-${++n}`) })))
  for (const { c, conf } of jobs) {
    mkdirSync(conf, { recursive: true })
    c.make(conf)
  }
  for await (const [key, value] of mapUnordered(jobs, 4, async ({ c, cmd, conf }) => {
    const result = await runBin(cmd.bin, [...cmd.args, '--config', conf], { stdin: '', env: { S3_SYSBACKUP_CONFIG: '' } })
    return [`${cmd.name}: ${c.name}`, { conf, result }] as const
  })) runs.set(key, value)
})

for (const c of CASES) {
  for (const cmd of COMMANDS.filter((x) => !c.only || c.only.includes(x.name))) {
    t.test(`${cmd.name}: ${c.name}`, async (t) => {
      const { conf, result } = runs.get(`${cmd.name}: ${c.name}`)!
      t.equal(result.status, 2, 'exit 2')
      const lines = result.stderr.split('\n').filter((l) => l !== '')
      t.equal(lines.length, 1, `one line: ${result.stderr}`)
      t.ok(lines[0]?.startsWith(`${cmd.name}: `), 'named after the command')
      t.match(lines[0]?.slice(cmd.name.length + 2), c.message(conf))
      t.equal(result.stdout, '', 'nothing on stdout')
    })
  }
}

t.test('nothing was done: no store, no state', async (t) => {
  t.notOk(existsSync(join(store, 'manifests')), 'no manifest')
  t.notOk(existsSync(join(state, 'files-cache')), 'no cache written')
})
