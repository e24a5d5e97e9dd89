#!/usr/bin/env node
import { runBin } from '../dist/cli/bin.js'
import { restoreStage } from '../dist/restore/restore-stage.js'
runBin(restoreStage)
