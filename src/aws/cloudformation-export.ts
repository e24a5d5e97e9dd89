import { CloudFormationClient, paginateListExports } from '@aws-sdk/client-cloudformation'
import { ConfigError, FatalError, UserError } from '../cli/errors.js'
import type { AwsAccess } from './credentials.js'
import { transportConfig, type TransportSettings } from './transport.js'

/**
 * The value of the CloudFormation export `name` in `region` — how the
 * bucket is found when `[s3] bucket` is not set (create-resources exports
 * it as `backup-bucket` by default). Reads ListExports page by page (100
 * exports a page) until found.
 *
 * Throws ConfigError when no such export exists (naming the export, the
 * region and the settings that choose them), FatalError when CloudFormation
 * cannot be asked (credentials, permissions, network after retries).
 */
export async function readCloudFormationExport(
  name: string,
  region: string,
  access: AwsAccess,
  transport: Partial<TransportSettings> = {},
): Promise<string> {
  const client = new CloudFormationClient({
    region,
    credentials: access.credentials,
    ...(access.profile !== undefined && { profile: access.profile }),
    ...transportConfig(transport),
  })
  try {
    for await (const page of paginateListExports({ client }, {})) {
      const found = page.Exports?.find((e) => e.Name === name)
      if (found?.Value) return found.Value
    }
  } catch (err) {
    if (err instanceof UserError) throw err
    const e = err as Error
    throw new FatalError(`ListExports (CloudFormation, ${region}): ${e.name}: ${e.message.replace(/\s+/g, ' ')}`, { cause: err })
  } finally {
    client.destroy()
  }
  throw new ConfigError(`no CloudFormation export "${name}" in region ${region}: set [s3] bucket, or [cloudformation] export and region to name the export of s3-sysbackup create-resources`)
}
