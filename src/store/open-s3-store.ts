/**
 * The S3 half of openStore (open-store.ts), in a module of its own so the
 * AWS SDK is imported only when a bucket is used.
 */
import { ConfigError } from '../cli/errors.js'
import type { LoadedConfig } from '../config/load-config.js'
import { awsAccess, type AwsAccess } from '../aws/credentials.js'
import { s3Sdk } from '../aws/s3-sdk.js'
import { transportConfig, transportFromEnv } from '../aws/transport.js'
import type { OpenStoreOptions } from './open-store.js'
import { S3Store } from './s3-store.js'

/** Region used when nothing configures one: S3 redirects the client to the bucket's own region. */
const FALLBACK_REGION = 'us-east-1'

/** Opens the configured bucket; `opts.endpoint` is already the effective `[s3] endpoint` or override. */
export async function openS3Store(config: LoadedConfig, opts: OpenStoreOptions): Promise<S3Store> {
  let transport
  try {
    transport = { ...transportFromEnv(opts.env ?? process.env), ...opts.transport }
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  const access = opts.awsAccess ?? awsAccess(config)
  const region = access.region ?? await defaultRegion(access)
  const bucket = config.values.s3.bucket ?? await bucketFromExport(config, access, region, { ...opts, transport })
  const client = new s3Sdk.S3Client({
    region: region ?? FALLBACK_REGION,
    followRegionRedirects: true,
    credentials: access.credentials,
    ...(access.profile !== undefined && { profile: access.profile }),
    ...(opts.endpoint !== undefined && { endpoint: opts.endpoint }),
    forcePathStyle: config.values.s3.force_path_style,
    ...transportConfig(transport),
  })
  const endpoint = opts.endpoint ?? environmentEndpoint(opts.env ?? process.env)
  const store = new S3Store({
    bucket,
    client,
    ...(endpoint !== undefined && { endpoint }),
    ...(opts.partSize !== undefined && { partSize: opts.partSize }),
    ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
    ...(opts.pageSize !== undefined && { pageSize: opts.pageSize }),
    ...(opts.clock && { clock: opts.clock }),
  })
  if (opts.access === 'write' && opts.deferLockCheck !== true) await store.checkObjectLock()
  return store
}

async function bucketFromExport(config: LoadedConfig, access: AwsAccess, region: string | undefined, opts: OpenStoreOptions): Promise<string> {
  const { export: exportName, region: cfnRegion } = config.values.cloudformation
  const where = config.file ?? 'configuration'
  const lookIn = cfnRegion ?? region
  if (lookIn === undefined) {
    throw new ConfigError(`${where}: no [s3] bucket, and no region to read the CloudFormation export "${exportName}" in: set [cloudformation] region, [aws] region or AWS_REGION`)
  }
  // Loaded only here: the CloudFormation client costs ~65 ms to load, and most configurations name their bucket.
  const { readCloudFormationExport } = await import('../aws/cloudformation-export.js')
  return readCloudFormationExport(exportName, lookIn, access, opts.transport)
}

/** The region the SDK would find by itself (the profile, AWS_REGION), or undefined. No request is sent. */
async function defaultRegion(access: AwsAccess): Promise<string | undefined> {
  const probe = new s3Sdk.S3Client(access.profile !== undefined ? { profile: access.profile } : {})
  try {
    return await probe.config.region()
  } catch {
    return undefined
  } finally {
    probe.destroy()
  }
}

/** The endpoint the SDK takes from the environment, as it would (for the store's id only). */
function environmentEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined
}
