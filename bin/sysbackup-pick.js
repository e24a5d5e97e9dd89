#!/usr/bin/env -S node --max-semi-space-size=8
import { runBin } from '../dist/cli/bin.js'
import { pickStage } from '../dist/stages/pick/pick-stage.js'
runBin(pickStage)
