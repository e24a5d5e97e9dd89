#!/usr/bin/env -S node --max-semi-space-size=8
import { runBin } from '../dist/cli/bin.js'
import { hashStage } from '../dist/stages/hash/hash-stage.js'
runBin(hashStage)
