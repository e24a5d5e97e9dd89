import type { CommandSpec } from '../cli/command.js'
import type { StageSpec } from '../cli/stage.js'

/**
 * Every program of the package, loaded on demand so a command pays only for
 * the modules it uses (the AWS SDK is slow to import).
 *
 * STAGES are the record filters, each a `bin/<name>.js`. SUBCOMMANDS are
 * the verbs of `s3-sysbackup`. Each entry must have a man page:
 * `man/<stage>.1`, `man/s3-sysbackup-<subcommand>.1` (test/man-pages.ts).
 */
export const STAGES: Record<string, () => Promise<StageSpec>> = {
  'sysbackup-hash': async () => (await import('../stages/hash/hash-stage.js')).hashStage,
  'sysbackup-upload': async () => (await import('../stages/upload/upload-stage.js')).uploadStage,
  'sysbackup-manifest': async () => (await import('../stages/manifest/manifest-stage.js')).manifestStage,
  'sysbackup-pick': async () => (await import('../stages/pick/pick-stage.js')).pickStage,
  'sysbackup-restore': async () => (await import('../restore/restore-stage.js')).restoreStage,
  'sysbackup-snap': async () => (await import('../stages/snap/snap-stage.js')).snapStage,
}

export const SUBCOMMANDS = {
  archive: async () => (await import('./archive.js')).archiveCommand,
  'pack-creds': async () => (await import('./pack-creds.js')).packCredsSubcommand,
  'create-resources': async () => (await import('./create-resources.js')).createResourcesCommand,
  'update-resources': async () => (await import('./update-resources.js')).updateResourcesCommand,
  'write-config': async () => (await import('./write-config.js')).writeConfigCommand,
  'list': async () => (await import('./list.js')).listSubcommand,
  'restore': async () => (await import('./restore.js')).restoreSubcommand,
  'verify': async () => (await import('./verify.js')).verifySubcommand,
  'diff': async () => (await import('./diff.js')).diffSubcommand,
  'ls': async () => (await import('./ls.js')).lsSubcommand,
  'dump': async () => (await import('./dump.js')).dumpSubcommand,
} satisfies Record<string, () => Promise<CommandSpec>>

/**
 * One line per subcommand for `s3-sysbackup --help` (the subcommands are
 * not loaded to show it). Typed by SUBCOMMANDS' keys: none can be missing.
 */
export const SUBCOMMAND_SUMMARIES: Record<keyof typeof SUBCOMMANDS, string> = {
  archive: 'back this machine up into the store, under Object Lock',
  'create-resources': 'create the bucket and its roles with CloudFormation',
  diff: 'show what changed between two backups',
  dump: 'write one file of a backup to standard output or a file',
  list: 'list the backups in the store by host and time',
  ls: 'list the files of a backup, or those matching patterns',
  'pack-creds': 'encrypt credentials for a restore from another machine',
  restore: 'restore a backup, or part of one',
  'update-resources': 'apply the current template to the resources\' stack',
  verify: 'check that backups are complete and stay locked',
  'write-config': 'write the configuration and the systemd daily timer',
}

/** Commands with a bin of their own that are not record stages (e.g. sysbackup-restore). */
export const TOOLS: Record<string, () => Promise<CommandSpec>> = {
  'sysbackup-packcreds': async () => (await import('./pack-creds.js')).packCredsTool,
}
