#!/usr/bin/env -S node --max-semi-space-size=8
import { runBin } from '../dist/cli/bin.js'
import { snapStage } from '../dist/stages/snap/snap-stage.js'
runBin(snapStage)
