#!/usr/bin/env -S node --max-semi-space-size=8
import { runBin } from '../dist/cli/bin.js'
import { manifestStage } from '../dist/stages/manifest/manifest-stage.js'
runBin(manifestStage)
