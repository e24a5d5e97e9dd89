#!/usr/bin/env node
import { runMain } from '../dist/cli/bin.js'
import { main } from '../dist/commands/s3-sysbackup.js'
runMain(main)
