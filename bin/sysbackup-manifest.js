#!/usr/bin/env node
import { runBin } from '../dist/cli/bin.js'
import { manifestStage } from '../dist/stages/manifest/manifest-stage.js'
runBin(manifestStage)
