/** An access key, as IAM's CreateAccessKey returns it. */
export interface AccessKey {
  userName: string
  accessKeyId: string
  secretAccessKey: string
}

/**
 * An AWS shared-credentials file holding one key in its `default` profile,
 * the form every AWS SDK and the aws CLI read (`credentials_file` in
 * s3-sysbackup.conf(5)).
 */
export function renderCredentials(key: AccessKey, groupName: string | undefined): string {
  return [
    `# Access key of IAM user ${key.userName}${groupName ? ` (group ${groupName})` : ''},`,
    '# written by s3-sysbackup write-config. Keep it readable by the backup user only.',
    '[default]',
    `aws_access_key_id = ${key.accessKeyId}`,
    `aws_secret_access_key = ${key.secretAccessKey}`,
    '',
  ].join('\n')
}
