/**
 * Opens the store a command works on, from the configuration and the
 * command line.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { OptionSpec } from '../cli/args.js'
import { ConfigError } from '../cli/errors.js'
import type { LoadedConfig } from '../config/load-config.js'
import { LocalStore } from './local-store.js'
import { limitUploads, sharedLimiter, uploadLimitOf } from './upload-limit.js'
import type { Store } from './store.js'
import type { TransportSettings } from '../aws/transport.js'
import type { AwsAccess } from '../aws/credentials.js'

/** The `--store DIR` option, for every command that opens the store (one wording everywhere). */
export const STORE_OPTION: OptionSpec = {
  name: 'store',
  type: 'string',
  arg: 'DIR',
  help: 'use the local directory store DIR instead of the configured bucket',
}

export interface OpenStoreOptions {
  /** `--store DIR`: a local directory store, relative to `cwd`; overrides `[s3] bucket`. */
  storeDir?: string
  /** Overrides `[s3] endpoint`. */
  endpoint?: string
  /**
   * `write` for commands that store objects: an S3 bucket must have Object
   * Lock enabled (checked now, one request), a local directory is created
   * when missing or empty. `dry-run` for a writer that only pretends: it
   * reads, and a local directory that does not exist yet reads as an empty
   * store (a first run's dry run) instead of an error. Default `read`.
   */
  access?: 'read' | 'write' | 'dry-run'
  /**
   * With access `write`: leave the Object Lock check to the first write
   * (S3Store checks before any write anyway) instead of doing it now, so a
   * run that turns out to write nothing sends no request at all.
   */
  deferLockCheck?: boolean
  /** For `AWS_ENDPOINT_URL(_S3)`, which name the endpoint in the store's id (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Base of a relative `storeDir` (default process.cwd()). */
  cwd?: string
  /** Clock for retention checks and local version ids (tests). */
  clock?: () => Date
  /** Multipart part size in bytes (S3 default 8 MiB); LocalStore counts requests with it. */
  partSize?: number
  /** Parts uploaded at once (S3 default 4). */
  concurrency?: number
  /** Listing page size (default 1000; smaller only for tests). */
  pageSize?: number
  /** Retry and timeout overrides (see aws/transport.ts). */
  transport?: Partial<TransportSettings>
  /** `--limit-upload RATE`: overrides `[s3] limit_upload` (see upload-limit.ts); applies with access `write`. */
  limitUpload?: string
  /**
   * Who to be to AWS instead of what the `[aws]` section says: a restore
   * with `--creds` passes the provider of its credentials package (an
   * assumed restore role, renewed) and the package's region.
   */
  awsAccess?: AwsAccess
}

/**
 * The store named by `--store DIR` (opts.storeDir), else by `[s3] bucket`:
 * `file:DIR` is a local directory store (a relative DIR is taken from the
 * configuration directory), anything else a bucket. With no bucket set, the
 * CloudFormation export `[cloudformation] export` (default `backup-bucket`)
 * in `[cloudformation] region` (else the AWS region) names it.
 *
 * The S3 client takes its credentials from `opts.awsAccess`, else from the
 * `[aws]` section (see aws/credentials.ts), its region from `[aws] region`, the profile or
 * AWS_REGION (us-east-1 when none is set, following S3's redirects to the
 * bucket's own region), its endpoint from `opts.endpoint`, `[s3] endpoint`
 * or AWS_ENDPOINT_URL, and `[s3] force_path_style`.
 *
 * With access `write` and an upload limit (`opts.limitUpload`, else
 * `[s3] limit_upload`), the bytes stored are held to it, by one limiter
 * shared by every store this process opens (upload-limit.ts).
 *
 * Throws ConfigError for settings that cannot work (exit 2), FatalError
 * when the store cannot be used (no such directory or bucket, no Object
 * Lock, no credentials; exit 3). The AWS SDK is loaded only for S3.
 */
export async function openStore(config: LoadedConfig, opts: OpenStoreOptions = {}): Promise<Store> {
  // Checked whatever the access, so a mistake shows in a dry run too.
  const uploadLimit = uploadLimitOf(opts.limitUpload, config.values.s3.limit_upload, config.file ?? 'configuration')
  const store = await openUnlimited(config, opts)
  return uploadLimit > 0 && opts.access === 'write' ? limitUploads(store, sharedLimiter(uploadLimit)) : store
}

async function openUnlimited(config: LoadedConfig, opts: OpenStoreOptions): Promise<Store> {
  const storeOptions = {
    create: opts.access === 'write',
    missingIsEmpty: opts.access === 'dry-run',
    ...(opts.clock && { clock: opts.clock }),
    ...(opts.pageSize !== undefined && { pageSize: opts.pageSize }),
    ...(opts.partSize !== undefined && { partSize: opts.partSize }),
  }
  const localDir = localStoreDir(config, opts)
  if (localDir !== undefined) return LocalStore.open(localDir, storeOptions)
  const s3 = config.values.s3
  const where = config.file ?? 'configuration'
  const endpoint = opts.endpoint ?? s3.endpoint
  if (endpoint !== undefined && !isUrl(endpoint)) {
    throw new ConfigError(`${opts.endpoint !== undefined ? 'endpoint' : `${where}: [s3] endpoint`} "${endpoint}" is not a URL (e.g. https://s3.example.com)`)
  }
  // Loaded here so that local-store commands never pay for importing the SDK.
  const { openS3Store } = await import('./open-s3-store.js')
  return openS3Store(config, { ...opts, ...(endpoint !== undefined && { endpoint }) })
}

/**
 * The directory of the local store openStore would open (`--store DIR`,
 * else a `file:DIR` bucket setting), absolute; undefined for a bucket.
 * Throws ConfigError for an empty directory.
 */
export function localStoreDir(config: LoadedConfig, opts: Pick<OpenStoreOptions, 'storeDir' | 'cwd'>): string | undefined {
  if (opts.storeDir !== undefined) {
    if (opts.storeDir === '') throw new ConfigError('--store needs a directory')
    return resolve(opts.cwd ?? process.cwd(), opts.storeDir)
  }
  const bucket = config.values.s3.bucket
  if (!bucket?.startsWith('file:')) return undefined
  return localDirOf(bucket, config.dir ?? opts.cwd ?? process.cwd(), config.file ?? 'configuration')
}

/** The directory of a `file:DIR` bucket setting; relative to `baseDir`. */
function localDirOf(bucket: string, baseDir: string, where: string): string {
  let path = bucket.slice('file:'.length)
  if (path.startsWith('//')) {
    try {
      path = fileURLToPath(bucket)
    } catch (err) {
      throw new ConfigError(`${where}: [s3] bucket "${bucket}": ${(err as Error).message}`)
    }
  }
  if (path === '') throw new ConfigError(`${where}: [s3] bucket "file:" needs a directory, as in file:/srv/backup-store`)
  return resolve(baseDir, path)
}

function isUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}
