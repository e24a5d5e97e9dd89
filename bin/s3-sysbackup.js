#!/usr/bin/env -S node --max-semi-space-size=8
import { runMain } from '../dist/cli/bin.js'
import { main } from '../dist/commands/s3-sysbackup.js'
runMain(main)
