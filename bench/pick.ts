/**
 * Benchmark of sysbackup-pick (npm run bench:pick): builds a system-like
 * tree with /work/shared/bench/mktree.py, then runs the built bin over it,
 * warm, with a picker `find DEST` and with `--stdin --null`, and prints wall
 * time, entries/s, files/s and the peak RSS of the process. For scale it
 * also times `find DEST` alone and `find DEST -ls` (an lstat per entry in
 * C), and the pick without getfacl on PATH (the cost of reading ACLs).
 *
 *   npm run bench:pick -- [--files N] [--runs N] [--keep]
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ourProgram } from './lib/root.js'
const PICK = ourProgram('sysbackup-pick')
const MKTREE = '/work/shared/bench/mktree.py'

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? Number(process.argv[at + 1]) : fallback
}

const files = option('files', 20000)
const runs = option('runs', 3)
const keep = process.argv.includes('--keep')

interface Measure {
  seconds: number
  /** User plus system CPU seconds: steadier than wall time on a shared machine. */
  cpuSeconds: number
  maxRssKb: number
}

/** Runs `command` under /usr/bin/time: wall seconds and peak RSS; stdout to `out` (or /dev/null). */
function timed(command: string[], options: { out?: string, stdin?: string, env?: NodeJS.ProcessEnv } = {}): Measure {
  const script = `${command.map(quote).join(' ')}${options.stdin ? ` < ${quote(options.stdin)}` : ''} > ${quote(options.out ?? '/dev/null')}`
  const result = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M %U %S', 'sh', '-c', script], { env: options.env ?? process.env, encoding: 'utf8' })
  const line = result.stderr.split('\n').find((l) => l.startsWith('TIME '))
  if (result.status !== 0 || !line) throw new Error(`${script} failed (${result.status}):\n${result.stderr}`)
  const [, seconds, rss, user, system] = line.split(' ')
  return { seconds: Number(seconds), cpuSeconds: Number(user) + Number(system), maxRssKb: Number(rss) }
}

function quote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`
}

/** The best (fastest) of `runs` measurements, after one warm-up run. */
function best(label: string, measure: () => Measure): Measure {
  measure()
  let fastest: Measure | undefined
  for (let i = 0; i < runs; i++) {
    const m = measure()
    if (!fastest || m.seconds < fastest.seconds) fastest = m
  }
  return fastest!
}

function trailerOf(file: string): Record<string, number> {
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
  const trailer = JSON.parse(lines.at(-1)!) as { type: string, ok: boolean, counts: Record<string, number> }
  if (trailer.type !== 'trailer' || !trailer.ok) throw new Error(`run not ok: ${lines.at(-1)}`)
  return trailer.counts
}

const work = mkdtempSync(join(tmpdir(), 'bench-pick-'))
try {
  const tree = join(work, 'tree')
  console.log(`building a tree of ${files} files in ${tree} …`)
  execFileSync('python3', [MKTREE, tree, '--files', String(files), '--big-mb', '1'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const conf = join(work, 'conf')
  mkdirSync(join(conf, 'pickers.d'), { recursive: true })
  writeFileSync(join(conf, 'conf'), '')
  writeFileSync(join(conf, 'pickers.d/10-find'), `#!/bin/sh\nexec find ${quote(tree)}\n`, { mode: 0o755 })
  const paths = join(work, 'paths0')
  execFileSync('sh', ['-c', `find ${quote(tree)} -print0 > ${quote(paths)}`])
  const out = join(work, 'out.ndjson')

  // A PATH with what the picker needs but no getfacl: the run without ACLs.
  const noAclBin = join(work, 'bin-no-getfacl')
  mkdirSync(noAclBin)
  for (const tool of ['sh', 'find', 'xargs', 'getent']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(noAclBin, tool))

  const results: [string, Measure, number | undefined][] = []
  const findOnly = best('find', () => timed(['find', tree]))
  results.push(['find DEST (paths only)', findOnly, undefined])
  const findLs = best('find -ls', () => timed(['find', tree, '-ls']))
  results.push(['find DEST -ls (lstat each, in C)', findLs, undefined])
  const startup = best('startup', () => timed([...PICK, '--version']))
  results.push(['sysbackup-pick --version (start-up)', startup, undefined])
  const picker = best('pick', () => timed([...PICK, '--config', conf], { out }))
  const counts = trailerOf(out)
  results.push(['sysbackup-pick, picker find DEST', picker, counts.entries])
  const stdin = best('stdin', () => timed([...PICK, '--stdin', '--null', '--config', conf], { stdin: paths, out }))
  results.push(['sysbackup-pick --stdin --null', stdin, trailerOf(out).entries])
  const noAcl = best('no acl', () => timed([...PICK, '--config', conf], { out, env: { ...process.env, PATH: noAclBin } }))
  results.push(['sysbackup-pick, getfacl not on PATH', noAcl, trailerOf(out).entries])

  console.log(`\ntree: ${counts.files} files, ${counts.dirs} dirs, ${counts.symlinks} symlinks, ${counts.special} special; ${counts.paths} paths picked; best of ${runs} warm runs\n`)
  console.log('what'.padEnd(40) + 'wall s'.padStart(8) + 'CPU s'.padStart(8) + 'entries/s'.padStart(12) + 'files/s'.padStart(10) + 'peak RSS MB'.padStart(13))
  for (const [what, m, entries] of results) {
    const perSecond = (n: number) => (m.seconds > 0 ? Math.round(n / m.seconds) : Infinity).toString()
    console.log(what.padEnd(40) + m.seconds.toFixed(2).padStart(8) + m.cpuSeconds.toFixed(2).padStart(8)
      + (entries === undefined ? '-' : perSecond(entries)).padStart(12)
      + (entries === undefined ? '-' : perSecond(counts.files!)).padStart(10)
      + (m.maxRssKb / 1024).toFixed(0).padStart(13))
  }
  console.log(`\nReading ACLs costs ${(picker.seconds - noAcl.seconds).toFixed(2)} s of wall time and ${(picker.cpuSeconds - noAcl.cpuSeconds).toFixed(2)} s of CPU (getfacl included; ${counts.acls} entries have ACLs).`)
  const perEntry = (m: Measure, less = 0) => ((m.cpuSeconds - less) / counts.entries! * 1e6).toFixed(1)
  console.log(`CPU per entry, start-up excluded: ${perEntry(picker, startup.cpuSeconds)} µs for sysbackup-pick (${perEntry(noAcl, startup.cpuSeconds)} µs without ACLs), ${perEntry(findLs)} µs for find -ls.`)
} finally {
  if (keep) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
