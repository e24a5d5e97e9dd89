#!/usr/bin/env node
import { runBin } from '../dist/cli/bin.js'
import { packCredsTool } from '../dist/commands/pack-creds.js'
runBin(packCredsTool)
