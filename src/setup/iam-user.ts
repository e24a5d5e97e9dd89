import { AddUserToGroupCommand, CreateAccessKeyCommand, CreateUserCommand, type IAMClient } from '@aws-sdk/client-iam'
import { FatalError } from '../cli/errors.js'
import { HOST_TAG } from '../config/host.js'
import { awsCall, awsErrorName } from './aws-errors.js'
import { describeCall } from './describe-call.js'
import type { AccessKey } from './credentials-file.js'

/** IAM path of the users write-config creates, so they are easy to list. */
export const USER_PATH = '/s3-sysbackup/'

/** IAM user names: up to 64 of letters, digits and `+=,.@_-`. */
export function validIamUserName(name: string): boolean {
  return /^[\w+=,.@-]{1,64}$/.test(name)
}

export interface BackupUserRequest {
  userName: string
  groupName: string
  packageName: string
  /** The host the user backs up; tagged on the user, it confines the host to its own manifests. */
  host: string
}

function userTags(req: BackupUserRequest): { Key: string, Value: string }[] {
  return [{ Key: 's3-sysbackup:package', Value: req.packageName }, { Key: HOST_TAG, Value: req.host }]
}

/** The requests createBackupUser makes, as --dry-run shows them. */
export function describeBackupUserCalls(req: BackupUserRequest): string[] {
  return [
    describeCall('iam', 'CreateUser', { UserName: req.userName, Path: USER_PATH, Tags: userTags(req).map((tag) => `${tag.Key}=${tag.Value}`) }),
    describeCall('iam', 'AddUserToGroup', { UserName: req.userName, GroupName: req.groupName }),
    describeCall('iam', 'CreateAccessKey', { UserName: req.userName }),
  ]
}

/**
 * Creates an IAM user in the package's backup group and an access key for
 * it. An existing user is an error (exit 3): it is never reused, since that
 * would silently add a second key to someone else's user.
 */
export async function createBackupUser(iam: IAMClient, req: BackupUserRequest, log: (line: string) => void): Promise<AccessKey> {
  const [create, join, key] = describeBackupUserCalls(req)
  await awsCall(`CreateUser ${req.userName}`, () => iam.send(new CreateUserCommand({
    UserName: req.userName, Path: USER_PATH, Tags: userTags(req),
  }))).catch((err: unknown) => {
    if (awsErrorName(err) === 'EntityAlreadyExistsException') {
      throw new FatalError(`IAM user ${req.userName} exists already; choose another name for --create-user`)
    }
    throw err
  })
  log(create!)
  await awsCall(`AddUserToGroup ${req.groupName}`, () => iam.send(new AddUserToGroupCommand({ UserName: req.userName, GroupName: req.groupName })))
  log(join!)
  const out = await awsCall(`CreateAccessKey ${req.userName}`, () => iam.send(new CreateAccessKeyCommand({ UserName: req.userName })))
  log(key!)
  const k = out.AccessKey
  if (!k?.AccessKeyId || !k.SecretAccessKey) throw new FatalError(`CreateAccessKey ${req.userName}: no key in the answer`)
  return { userName: req.userName, accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey }
}
