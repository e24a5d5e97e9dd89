#!/bin/sh
// 2>/dev/null; exec node --max-semi-space-size=8 "$0" "$@"
import { runBin } from '../dist/cli/bin.js'
import { pickStage } from '../dist/stages/pick/pick-stage.js'
runBin(pickStage)
