#!/usr/bin/env node
import { runBin } from '../dist/cli/bin.js'
import { uploadStage } from '../dist/stages/upload/upload-stage.js'
runBin(uploadStage)
