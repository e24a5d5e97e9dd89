/**
 * The test bed of the fault harness (test/faults): a moto_server of the
 * test file's own, a fault proxy in front of it, and "machines" — a
 * configuration directory with a picker over a tree and a snapshotter, a
 * state directory — whose archive and restore run as real processes
 * through the proxy.
 */
import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { S3Store } from '../../src/store/s3-store.js'
import { ROOT, runBin, type BinResult } from './bin.js'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { startMoto, type Moto } from './moto.js'

/** `FAULTS_FULL=1`: the full matrix (more seeds, bigger trees); default: a smaller one that keeps `npm test` short. */
export const FULL = process.env.FAULTS_FULL === '1'

/**
 * Client timeouts of the tools under test: short, so a response the proxy
 * holds back (DELAY_MS) times out and is retried within a test's time.
 */
export const CLIENT_TIMEOUT_MS = 2000
export const DELAY_MS = 5000
export const TRANSPORT_ENV = { S3_SYSBACKUP_TRANSPORT: `requestTimeoutMs=${CLIENT_TIMEOUT_MS},socketTimeoutMs=${CLIENT_TIMEOUT_MS},connectionTimeoutMs=${CLIENT_TIMEOUT_MS}` }

export const BUCKET = 'backups'

export interface Bed {
  moto: Moto
  /** The proxy of the current seed (see `proxyFor`). */
  proxy: FaultProxy
  /** Environment of every tool process: moto's credentials, short timeouts. */
  env: NodeJS.ProcessEnv
  /** Forgets every object, makes the bucket again, and puts a fresh proxy with `seed` in front. */
  fresh(seed: number): Promise<FaultProxy>
  /** A store reading moto directly (not through the proxy), to check what is really stored. */
  inspect(bucket?: string): S3Store
  client(): S3Client
}

/** Starts moto for this test file (stopped at teardown); call `fresh(seed)` in each test. */
export function faultBed(t: Test): Bed {
  const bed = {} as Bed
  let client: S3Client | undefined
  t.before(async () => {
    bed.moto = await startMoto()
    bed.env = { ...bed.moto.env, ...TRANSPORT_ENV }
    Object.assign(process.env, bed.moto.env)
    client = new S3Client({ endpoint: bed.moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
  })
  t.teardown(async () => {
    await bed.proxy?.close()
    client?.destroy()
    await bed.moto?.stop()
  })
  bed.client = () => client!
  bed.inspect = (bucket = BUCKET) => new S3Store({ bucket, client: client!, endpoint: bed.moto.endpoint })
  bed.fresh = async (seed) => {
    await bed.proxy?.close()
    await bed.moto.reset()
    await client!.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }))
    bed.proxy = await startFaultProxy({ target: bed.moto.endpoint, seed, delayMs: DELAY_MS })
    return bed.proxy
  }
  return bed
}

export interface MachineOptions {
  /** Directory for the configuration and state. */
  dir: string
  /** The tree the picker picks (`find TREE -print0`). */
  tree: string
  /** The S3 endpoint the tools use (the proxy's). */
  endpoint: string
  env: NodeJS.ProcessEnv
  host?: string
  /** Body of the snapshotter (bash; the snapshot goes to fd "$1"); none when undefined. */
  snapshotter?: string
  /** Extra conf text. */
  conf?: string
  /** Default BUCKET. */
  bucket?: string
}

export interface Machine {
  configDir: string
  stateDir: string
  host: string
  tree: string
  env: NodeJS.ProcessEnv
  /** `s3-sysbackup archive --json` with this machine's configuration. */
  archive(...extra: string[]): Promise<BinResult>
  /** The same, started and left running (for kill tests). */
  spawnArchive(...extra: string[]): ChildProcess
  /** `s3-sysbackup restore --yes` of this host's newest complete backup into `target`. */
  restore(target: string, ...extra: string[]): Promise<BinResult>
}

export function machine(o: MachineOptions): Machine {
  const host = o.host ?? 'box1'
  const configDir = join(o.dir, `config-${host}`)
  const stateDir = join(o.dir, `state-${host}`)
  mkdirSync(join(configDir, 'pickers.d'), { recursive: true })
  mkdirSync(join(configDir, 'snapshots.d'), { recursive: true })
  writeFileSync(join(configDir, 'conf'), `[s3]\nbucket = ${o.bucket ?? BUCKET}\nendpoint = ${o.endpoint}\n[content]\ndays_retained = 3\nlock_timeout = 0\n${o.conf ?? ''}`)
  writeFileSync(join(configDir, 'pickers.d', '10-tree'), `#!/bin/sh\nexec find '${o.tree}' -print0\n`)
  chmodSync(join(configDir, 'pickers.d', '10-tree'), 0o755)
  if (o.snapshotter !== undefined) {
    writeFileSync(join(configDir, 'snapshots.d', '10-dump'), `#!/bin/bash\n${o.snapshotter}\n`)
    chmodSync(join(configDir, 'snapshots.d', '10-dump'), 0o755)
  }
  const archiveArgs = (extra: string[]) => ['archive', '--config', configDir, '--state-dir', stateDir, '--host', host, '--json', '--no-progress', ...extra]
  return {
    configDir,
    stateDir,
    host,
    tree: o.tree,
    env: o.env,
    archive: (...extra) => runBin('s3-sysbackup', archiveArgs(extra), { env: o.env, timeoutMs: 240_000 }),
    spawnArchive: (...extra) => {
      const env = { ...process.env, ...o.env }
      delete env.NODE_OPTIONS
      return spawn(process.execPath, [join(ROOT, 'bin', 's3-sysbackup.js'), ...archiveArgs(extra)], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    },
    restore: (target, ...extra) => runBin('s3-sysbackup', ['restore', '--config', configDir, '--host', host, '--target', target, '--yes', ...extra], { env: o.env, timeoutMs: 240_000 }),
  }
}

/** The JSON summary an `archive --json` run printed (undefined when it printed none). */
export function summaryOf(run: BinResult): Record<string, unknown> | undefined {
  try {
    return JSON.parse(run.stdout) as Record<string, unknown>
  } catch {
    return undefined
  }
}
