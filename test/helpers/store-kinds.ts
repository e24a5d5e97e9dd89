import type { Test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3'
import { loadConfig } from '../../src/config/load-config.js'
import { openStore } from '../../src/store/open-store.js'
import type { Store } from '../../src/store/store.js'
import { startMoto, type Moto } from './moto.js'
import { testDir } from './files.js'

/** A fresh, empty store of one kind, and a configuration directory that names it. */
export interface FreshStore {
  /** A configuration directory whose `conf` names the store (plus `extraConf`). */
  configDir: string
  /** Opens the store (for writing: a local store is created when missing), as a stage would. */
  open(): Promise<Store>
  /** Multipart uploads started and neither completed nor aborted (always 0 for a local store). */
  pendingUploads(): Promise<number>
}

export interface StoreKind {
  name: string
  /** Environment a child process needs to reach the store. */
  env: NodeJS.ProcessEnv
  fresh(t: Test, extraConf?: string): Promise<FreshStore>
}

let configs = 0

function writeConfig(t: Test, conf: string): string {
  const dir = join(testDir(t), `config-${++configs}`)
  mkdirSync(dir)
  writeFileSync(join(dir, 'conf'), conf)
  return dir
}

/** A local directory store, named by `[s3] bucket = file:DIR`. */
export const LOCAL_STORE: StoreKind = {
  name: 'local directory store',
  env: {},
  async fresh(t, extraConf = '') {
    const configDir = writeConfig(t, `[s3]\nbucket = file:store\n${extraConf}`)
    return {
      configDir,
      open: () => openStore(loadConfig(configDir, {}), { access: 'write' }),
      pendingUploads: async () => 0,
    }
  },
}

/**
 * An Object-Lock bucket on a moto_server of the test file's own (started
 * here, stopped at teardown). Its environment is also put in process.env,
 * where the SDK of an in-process stage finds its credentials and region.
 * Each fresh() resets moto: tests in the file must not run concurrently.
 */
export function motoStore(t: Test): StoreKind {
  let moto: Moto | undefined
  const env: NodeJS.ProcessEnv = {}
  t.before(async () => {
    moto = await startMoto()
    Object.assign(env, moto.env)
    Object.assign(process.env, moto.env)
  })
  t.teardown(async () => {
    await moto?.stop()
  })
  return {
    name: 'S3 bucket (moto)',
    env,
    async fresh(t, extraConf = '') {
      await moto!.reset()
      const client = new S3Client({ endpoint: moto!.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
      t.teardown(() => client.destroy())
      await client.send(new CreateBucketCommand({ Bucket: 'backups', ObjectLockEnabledForBucket: true }))
      const configDir = writeConfig(t, `[s3]\nbucket = backups\nendpoint = ${moto!.endpoint}\n${extraConf}`)
      return {
        configDir,
        open: () => openStore(loadConfig(configDir, {}), { access: 'write' }),
        pendingUploads: async () => (await client.send(new ListMultipartUploadsCommand({ Bucket: 'backups' }))).Uploads?.length ?? 0,
      }
    },
  }
}
