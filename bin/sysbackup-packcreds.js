#!/bin/sh
// 2>/dev/null; exec node --max-semi-space-size=8 "$0" "$@"
import { runBin } from '../dist/cli/bin.js'
import { packCredsTool } from '../dist/commands/pack-creds.js'
runBin(packCredsTool)
