#!/usr/bin/env node
import { runBin } from '../dist/cli/bin.js'
import { snapStage } from '../dist/stages/snap/snap-stage.js'
runBin(snapStage)
