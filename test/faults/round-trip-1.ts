import t from 'tap'
import { FULL } from '../helpers/fault-bed.js'
import { roundTripSeeds } from '../helpers/round-trip-case.js'

// Archive, restore and compare through 5% random S3 faults: seeds 1-3 (and 6-8 with FAULTS_FULL=1).
roundTripSeeds(t, FULL ? [1, 2, 3, 6, 7, 8] : [1, 2, 3])
