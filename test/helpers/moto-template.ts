import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseTemplate } from '../../src/setup/cfn-yaml.js'
import { SHIPPED_TEMPLATE } from '../../src/setup/stack-template.js'

/** Names the moto template outputs for the groups moto cannot create (tests create them through IAM). */
export const MOTO_GROUPS = { BackupGroupName: 'sysbackup-backup', RestoreGroupName: 'sysbackup-restore', AuditGroupName: 'sysbackup-audit' }

export interface MotoTemplateOptions {
  /** Tags to put on the bucket (moto applies bucket tag changes on update). */
  bucketTags?: Record<string, string>
  /** A literal BucketName, bypassing the parameter (e.g. an invalid one). */
  literalBucketName?: string
}

/**
 * The shipped template, made deployable by moto_server (which has no
 * AWS::IAM::Group in CloudFormation): the groups are left out and their
 * name outputs become literals. Everything else (bucket, bucket policy,
 * roles, managed policies, conditions, exports) is the shipped text.
 * Written as JSON into `dir`; returns its path.
 */
export function writeMotoTemplate(dir: string, options: MotoTemplateOptions = {}, name = 'moto-template.json'): string {
  const tpl = parseTemplate(readFileSync(SHIPPED_TEMPLATE, 'utf8')) as {
    Resources: Record<string, { Type: string, Properties: Record<string, unknown> }>
    Outputs: Record<string, { Value: unknown }>
  }
  for (const [id, res] of Object.entries(tpl.Resources)) if (res.Type === 'AWS::IAM::Group') delete tpl.Resources[id]
  for (const [key, value] of Object.entries(MOTO_GROUPS)) tpl.Outputs[key] = { Value: value }
  const bucket = tpl.Resources.Bucket!.Properties
  if (options.bucketTags) bucket.Tags = Object.entries(options.bucketTags).map(([Key, Value]) => ({ Key, Value }))
  if (options.literalBucketName !== undefined) bucket.BucketName = options.literalBucketName
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify(tpl, null, 2))
  return path
}
