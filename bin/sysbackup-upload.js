#!/usr/bin/env -S node --max-semi-space-size=8
import { runBin } from '../dist/cli/bin.js'
import { uploadStage } from '../dist/stages/upload/upload-stage.js'
runBin(uploadStage)
