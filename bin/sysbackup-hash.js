#!/usr/bin/env node
import { runBin } from '../dist/cli/bin.js'
import { hashStage } from '../dist/stages/hash/hash-stage.js'
runBin(hashStage)
