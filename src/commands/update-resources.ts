import type { CommandSpec } from '../cli/command.js'
import { deployStack, STACK_OPTIONS } from '../setup/deploy-stack.js'

/** `s3-sysbackup update-resources`: applies the template (and changed parameters) to an existing package. */
export const updateResourcesCommand: CommandSpec = {
  name: 's3-sysbackup update-resources',
  synopsis: '[--package-name NAME] [--region REGION] [--retention-days DAYS] [--lock-mode MODE] [options]',
  summary: 'Apply the current template, and any parameter given, to an existing package stack. Parameters not given keep their value. Shows the stack events, waits, and prints the outputs.',
  options: STACK_OPTIONS,
  manPage: 's3-sysbackup-update-resources(1)',
  main: (args, io) => deployStack('update', args, io),
}
