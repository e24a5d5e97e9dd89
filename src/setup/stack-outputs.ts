import type { CloudFormationClient, Stack } from '@aws-sdk/client-cloudformation'
import { FatalError } from '../cli/errors.js'
import { awsErrorMessage, awsErrorName } from './aws-errors.js'
import { describeStack } from './stack-progress.js'

/** What write-config takes from a package's stack (the keys the shipped template outputs). */
export interface PackageOutputs {
  bucketName?: string
  exportName?: string
  retentionDays?: number
  lockMode?: string
  backupRoleArn?: string
  backupGroupName?: string
}

/** Reads a package's stack outputs; a missing stack is a FatalError that says how to make one. */
export async function readPackageOutputs(cfn: CloudFormationClient, packageName: string): Promise<PackageOutputs> {
  let stack: Stack
  try {
    stack = await describeStack(cfn, packageName)
  } catch (err) {
    if (awsErrorName(err) === 'ValidationError' && /does not exist/i.test(awsErrorMessage(err))) {
      throw new FatalError(`package ${packageName} does not exist (no stack ${packageName}); create it with s3-sysbackup create-resources, or give --no-stack`)
    }
    throw err
  }
  const find = (key: string) => stack.Outputs?.find((o) => o.OutputKey === key)
  const out: PackageOutputs = {}
  const bucket = find('BucketName')
  if (bucket?.OutputValue) out.bucketName = bucket.OutputValue
  if (bucket?.ExportName) out.exportName = bucket.ExportName
  const days = Number(find('RetentionDays')?.OutputValue)
  if (Number.isInteger(days) && days > 0) out.retentionDays = days
  const mode = find('LockMode')?.OutputValue
  if (mode) out.lockMode = mode
  const role = find('BackupRoleArn')?.OutputValue
  if (role) out.backupRoleArn = role
  const group = find('BackupGroupName')?.OutputValue
  if (group) out.backupGroupName = group
  return out
}
