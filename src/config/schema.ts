/**
 * Every setting of the `conf` file, in one place: its section, type, default
 * and meaning. The loader rejects anything not listed here, and
 * s3-sysbackup.conf(5) documents each entry (a test checks they agree).
 */

interface Setting<K extends string, T> {
  kind: K
  default?: T
  /** For `enum` settings: the allowed values. */
  values?: readonly string[]
  /** Smallest allowed value of a number. */
  min?: number
  /** Largest allowed value of a number. */
  max?: number
  help: string
}

type StringSetting = Setting<'string', string>
/** A filesystem path; relative paths are taken relative to the configuration directory. */
type PathSetting = Setting<'path', string>
type IntSetting = Setting<'int', number>
type NumberSetting = Setting<'number', number>
type BoolSetting = Setting<'bool', boolean>
type EnumSetting = Setting<'enum', string>
export type AnySetting = StringSetting | PathSetting | IntSetting | NumberSetting | BoolSetting | EnumSetting

export const DEFAULT_CONFIG_DIR = '/etc/backup'
export const DEFAULT_STATE_DIR = '/var/cache/s3-sysbackup'

export const SCHEMA = {
  aws: {
    profile: { kind: 'string', help: 'AWS profile: from the standard profile files, or from credentials_file when given' },
    credentials_file: { kind: 'path', help: 'an AWS credentials file to use instead of the standard ones' },
    role_arn: { kind: 'string', help: 'an IAM role to assume with the credentials from credentials_file (used only with credentials_file)' },
    region: { kind: 'string', help: 'AWS region for S3 and STS, when the profile does not set one' },
  },
  s3: {
    bucket: { kind: 'string', help: 'the bucket to back up into, or file:DIR for a local directory store; when absent, the CloudFormation export names it' },
    endpoint: { kind: 'string', help: 'URL of an S3-compatible endpoint (also AWS_ENDPOINT_URL)' },
    force_path_style: { kind: 'bool', default: false, help: 'address buckets as ENDPOINT/BUCKET rather than BUCKET.ENDPOINT' },
    limit_upload: { kind: 'string', help: 'most bytes a second sent to the store, e.g. 512K or 4M (binary units; absent or 0: no limit)' },
  },
  cloudformation: {
    region: { kind: 'string', help: 'region of the CloudFormation stack whose export names the bucket' },
    export: { kind: 'string', default: 'backup-bucket', help: 'name of the CloudFormation export that gives the bucket name' },
  },
  content: {
    lock_timeout: { kind: 'number', default: 10, min: 0, help: 'seconds to wait for a shared advisory lock (flock) on a picked file before reading it unlocked' },
    days_retained: { kind: 'int', default: 14, min: 1, help: 'days each backup is kept under Object Lock' },
    lock_mode: { kind: 'enum', default: 'GOVERNANCE', values: ['GOVERNANCE', 'COMPLIANCE'], help: 'Object Lock mode of every stored object' },
    extend_days: { kind: 'int', default: 7, min: 0, help: 'slack added when retention is extended, so one object is extended at most once per this many days' },
    // Why 1: src/stages/upload/gzip-level.ts.
    gzip_level: { kind: 'int', default: 1, min: 0, max: 9, help: 'zlib level of content stored gzip-encoded, 1 (fastest) to 9 (smallest); 0 stores all content as it is' },
  },
  state: {
    dir: { kind: 'path', default: DEFAULT_STATE_DIR, help: 'directory for caches (files cache, known content versions); deleting it changes only cost' },
  },
  archive: {
    host: { kind: 'string', help: 'the name manifests and snapshots of this machine are stored under (default: the host name)' },
    lock_wait: { kind: 'number', default: 0, min: 0, help: 'seconds an archive run waits for another run on this machine to finish before giving up' },
    cpu_scheduling: { kind: 'enum', default: 'batch', values: ['batch', 'normal'], help: 'CPU scheduling policy of an archive run and what it starts: batch (SCHED_BATCH) or normal' },
  },
  pickers: {
    timeout: { kind: 'number', default: 600, min: 0, help: 'seconds a picker may run before it is killed and reported' },
  },
  snapshots: {
    timeout: { kind: 'number', default: 3600, min: 0, help: 'seconds a snapshotter may run before it is killed and reported' },
  },
} as const satisfies Record<string, Record<string, AnySetting>>

type Schema = typeof SCHEMA
type ValueOf<S> = S extends { kind: 'int' | 'number' } ? number
  : S extends { kind: 'bool' } ? boolean
  : string
type WithDefault<S, V> = S extends { default: unknown } ? V : V | undefined

/** The loaded configuration: every section and setting, typed, with defaults applied. */
export type Config = {
  [Section in keyof Schema]: {
    [Key in keyof Schema[Section]]: WithDefault<Schema[Section][Key], ValueOf<Schema[Section][Key]>>
  }
}
