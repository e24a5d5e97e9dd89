import { join } from 'node:path'
import { runCommand, type CommandSpec } from '../../src/cli/command.js'
import { runBackup, type StoredManifest } from './backup-fixture.js'
import { testIO } from './io.js'
import { makeSampleTree } from './sample-tree.js'

/** The text the sample backup's snapshotter `pgdump` writes. */
export const SNAPSHOT_TEXT = 'the dump of the database\n'

export interface SampleBackup {
  /** The backed-up tree (makeSampleTree). */
  src: string
  storeDir: string
  manifest: StoredManifest
}

/** The result of a command run in-process. */
export interface CommandRun {
  status: number
  out: string
  outBytes: Buffer
  err: string
  /** stdout's chunks as written, to see that a large output was streamed. */
  writes: number
}

export const SAMPLE_HOST = 'h1'
export const SAMPLE_TIME = new Date('2026-11-26T08:00:00Z')

/**
 * A real backup (runBackup: the stages as processes) of makeSampleTree,
 * with a snapshot `pgdump`, into a local store under `dir`, of host
 * SAMPLE_HOST at SAMPLE_TIME. Needs root, as makeSampleTree does.
 */
export async function sampleBackup(dir: string, largeBytes?: number): Promise<SampleBackup> {
  const src = join(dir, 'src')
  const storeDir = join(dir, 'store')
  makeSampleTree(src, largeBytes)
  const manifest = await runBackup(src, join(dir, 'work'), {
    host: SAMPLE_HOST, runTime: SAMPLE_TIME, storeArgs: ['--store', storeDir],
    snapshotters: { pgdump: `printf '${SNAPSHOT_TEXT.replace('\n', '\\n')}' >&"$1"` },
  })
  return { src, storeDir, manifest }
}

/** Runs `command` in-process with `args`, capturing its output. */
export async function runIn(command: CommandSpec, args: string[]): Promise<CommandRun> {
  const io = testIO()
  let writes = 0
  io.stdout.on('data', () => { writes++ })
  const status = await runCommand(command, args, io)
  return { status, out: io.out(), outBytes: io.outBytes(), err: io.err(), writes }
}
