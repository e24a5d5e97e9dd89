#!/bin/sh
// 2>/dev/null; exec node --max-semi-space-size=8 "$0" "$@"
import { runMain } from '../dist/cli/bin.js'
import { main } from '../dist/commands/s3-sysbackup.js'
runMain(main)
