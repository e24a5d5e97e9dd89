import type { CommandSpec } from '../cli/command.js'
import { deployStack, STACK_OPTIONS } from '../setup/deploy-stack.js'

/** `s3-sysbackup create-resources`: creates a package's CloudFormation stack. */
export const createResourcesCommand: CommandSpec = {
  name: 's3-sysbackup create-resources',
  synopsis: '[--package-name NAME] [--region REGION] [--bucket-name NAME] [--retention-days DAYS] [--lock-mode MODE] [options]',
  summary: 'Create the AWS resources of a package with CloudFormation: a bucket under Object Lock, and backup, restore and audit roles with their groups. Shows the stack events, waits for the stack, and prints its outputs.',
  options: STACK_OPTIONS,
  manPage: 's3-sysbackup-create-resources(1)',
  main: (args, io) => deployStack('create', args, io),
}
