import { CloudFormationClient } from '@aws-sdk/client-cloudformation'
import { IAMClient } from '@aws-sdk/client-iam'

/**
 * The AWS clients of the setup commands (create-resources, update-resources,
 * write-config). Made here and nowhere else, so that they can later come
 * from the shared credentials module without touching the commands.
 *
 * `region` is the one the user named (--region, AWS_REGION or
 * AWS_DEFAULT_REGION); when undefined the SDK's own chain (profile) decides.
 * Endpoints, credentials and profiles come from the SDK's usual sources,
 * AWS_ENDPOINT_URL included.
 */
export interface SetupClients {
  cloudformation: CloudFormationClient
  iam: IAMClient
}

export function setupClients(region: string | undefined): SetupClients {
  const config = region === undefined ? {} : { region }
  return { cloudformation: new CloudFormationClient(config), iam: new IAMClient(config) }
}

/** The region named by the user: `--region`, else AWS_REGION, else AWS_DEFAULT_REGION. */
export function namedRegion(option: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return option ?? (env.AWS_REGION || undefined) ?? (env.AWS_DEFAULT_REGION || undefined)
}
