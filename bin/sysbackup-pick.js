#!/usr/bin/env node
import { runBin } from '../dist/cli/bin.js'
import { pickStage } from '../dist/stages/pick/pick-stage.js'
runBin(pickStage)
