#!/usr/bin/env -S node --max-semi-space-size=8
import { runBin } from '../dist/cli/bin.js'
import { packCredsTool } from '../dist/commands/pack-creds.js'
runBin(packCredsTool)
