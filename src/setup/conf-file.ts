import { DEFAULT_STATE_DIR, SCHEMA } from '../config/schema.js'

/** What write-config knows for the conf file; absent values are left out. */
export interface ConfSettings {
  packageName: string
  credentialsFile?: string
  /** IAM user the credentials belong to (for the comment). */
  iamUser?: string
  roleArn?: string
  region?: string
  bucket?: string
  exportName?: string
  daysRetained?: number
  lockMode?: string
  /** `[s3] limit_upload`, as given (already checked to be a rate). */
  limitUpload?: string
  gzipLevel?: number
  stateDir?: string
  /** The host name runs are stored under, pinned in conf when it is the IAM user's host tag. */
  host?: string
}

/**
 * The text of a `conf` file (s3-sysbackup.conf(5)) holding only the
 * settings that differ from their defaults, each with a comment saying
 * where it came from, so the file stays short and says what matters.
 */
export function renderConf(s: ConfSettings): string {
  const sections: string[] = []
  const section = (name: string, lines: string[]) => {
    if (lines.length > 0) sections.push(`[${name}]\n${lines.join('\n')}\n`)
  }

  const aws: string[] = []
  if (s.credentialsFile !== undefined) {
    aws.push(`# Access key of IAM user ${s.iamUser ?? '(unknown)'}, a member of the package's backup group;`)
    aws.push(`# it may do nothing but assume the backup role below.`)
    aws.push(`credentials_file = ${s.credentialsFile}`)
    if (s.roleArn !== undefined) aws.push(`role_arn = ${s.roleArn}`)
  }
  if (s.region !== undefined) aws.push(`region = ${s.region}`)
  section('aws', aws)

  const s3: string[] = []
  if (s.bucket !== undefined) s3.push('# Named here, so no CloudFormation lookup is needed.', `bucket = ${s.bucket}`)
  if (s.limitUpload !== undefined) s3.push('# At most this many bytes a second to the store (K, M, G: KiB, MiB, GiB; 0: no limit).', `limit_upload = ${s.limitUpload}`)
  section('s3', s3)
  if (s.bucket === undefined) {
    const cfn: string[] = ['# The bucket is the value of this CloudFormation export.']
    if (s.region !== undefined) cfn.push(`region = ${s.region}`)
    if (s.exportName !== undefined && s.exportName !== SCHEMA.cloudformation.export.default) cfn.push(`export = ${s.exportName}`)
    if (cfn.length > 1) section('cloudformation', cfn)
  }

  const content: string[] = []
  const retention: string[] = []
  if (s.daysRetained !== undefined && s.daysRetained !== SCHEMA.content.days_retained.default) retention.push(`days_retained = ${s.daysRetained}`)
  if (s.lockMode !== undefined && s.lockMode !== SCHEMA.content.lock_mode.default) retention.push(`lock_mode = ${s.lockMode}`)
  if (retention.length > 0) content.push('# As the package\'s bucket keeps them (it refuses any other lock mode).', ...retention)
  if (s.gzipLevel !== undefined && s.gzipLevel !== SCHEMA.content.gzip_level.default) {
    content.push('# zlib level of content worth compressing: 1 fastest, 9 smallest, 0 none.', `gzip_level = ${s.gzipLevel}`)
  }
  section('content', content)

  if (s.stateDir !== undefined && s.stateDir !== DEFAULT_STATE_DIR) section('state', [`dir = ${s.stateDir}`])
  if (s.host !== undefined) {
    const why = s.iamUser !== undefined ? `the host tag of IAM user ${s.iamUser}: the backup role allows this host no other name` : 'given to write-config'
    section('archive', [`# Manifests and snapshots are stored under this name (${why}).`, `host = ${s.host}`])
  }

  const header = [
    `# s3-sysbackup configuration for package ${s.packageName}, written by`,
    '# s3-sysbackup write-config. Settings left out take their defaults;',
    '# every setting is described in s3-sysbackup.conf(5).',
    '',
  ].join('\n')
  return [header, ...sections].join('\n')
}
