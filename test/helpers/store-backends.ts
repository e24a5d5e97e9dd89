/**
 * The two stores a stage test runs against, behind one interface: a local
 * directory store, and an Object-Lock bucket on the test file's own
 * moto_server. Each gives the configuration and arguments that make a stage
 * use it, and a store of its own to look inside (with its own request
 * counter, so looking does not disturb the stage's counts).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { storeErrorCode } from '../../src/store/errors.js'
import { LocalStore } from '../../src/store/local-store.js'
import { fromSdkError } from '../../src/store/s3-errors.js'
import { S3Store } from '../../src/store/s3-store.js'
import type { Store } from '../../src/store/store.js'
import type { Moto } from './moto.js'

export interface Backend {
  name: 'local' | 's3'
  /** A configuration directory naming the store (for S3), for --config or $S3_SYSBACKUP_CONFIG. */
  configDir: string
  /** Extra stage arguments (`--store DIR` for the local store). */
  storeArgs: string[]
  /** Environment a stage process needs to reach the store. */
  env: NodeJS.ProcessEnv
  /** A store to look inside. */
  inspect(): Promise<Store>
  /** Tries to delete a version without any bypass: `AccessDenied` while it is locked, `deleted` otherwise. */
  deleteVersion(key: string, versionId: string): Promise<string>
}

/** A local directory store in `dir/store` (created by the first writer). */
export function localBackend(dir: string): Backend {
  const configDir = join(dir, 'config-local')
  mkdirSync(configDir, { recursive: true })
  writeFileSync(join(configDir, 'conf'), '')
  const storeDir = join(dir, 'store')
  return {
    name: 'local',
    configDir,
    storeArgs: ['--store', storeDir],
    env: { S3_SYSBACKUP_CONFIG: configDir },
    inspect: async () => LocalStore.open(storeDir, { create: true }),
    async deleteVersion(key, versionId) {
      try {
        await LocalStore.open(storeDir).deleteVersion(key, versionId)
        return 'deleted'
      } catch (err) {
        return storeErrorCode(err) ?? String(err)
      }
    },
  }
}

function client(moto: Moto): S3Client {
  return new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
}

/** An Object-Lock bucket `bucket` on `moto` (created now), named by a configuration in `dir`. */
export async function s3Backend(dir: string, moto: Moto, bucket: string): Promise<Backend> {
  const s3 = client(moto)
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }))
  const configDir = join(dir, `config-${bucket}`)
  mkdirSync(configDir, { recursive: true })
  writeFileSync(join(configDir, 'conf'), `[s3]\nbucket = ${bucket}\nendpoint = ${moto.endpoint}\nforce_path_style = true\n`)
  return {
    name: 's3',
    configDir,
    storeArgs: [],
    env: { ...moto.env, S3_SYSBACKUP_CONFIG: configDir },
    inspect: async () => new S3Store({ bucket, client: client(moto), endpoint: moto.endpoint }),
    async deleteVersion(key, versionId) {
      try {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))
        return 'deleted'
      } catch (err) {
        return storeErrorCode(fromSdkError('DeleteObject', key, err)) ?? String(err)
      }
    },
  }
}

/** Every version under `prefix`, as `key -> versionIds`. */
export async function versionsOf(store: Store, prefix: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for await (const page of store.listVersions(prefix)) {
    for (const v of page) out.set(v.key, [...(out.get(v.key) ?? []), v.versionId])
  }
  return out
}
