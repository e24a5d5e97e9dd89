#!/usr/bin/env -S node --max-semi-space-size=8
import { runBin } from '../dist/cli/bin.js'
import { restoreStage } from '../dist/restore/restore-stage.js'
runBin(restoreStage)
