import t from 'tap'
import { FULL } from '../helpers/fault-bed.js'
import { roundTripSeeds } from '../helpers/round-trip-case.js'

// Archive, restore and compare through 5% random S3 faults: seeds 4-5 (and 9-10 with FAULTS_FULL=1).
roundTripSeeds(t, FULL ? [4, 5, 9, 10] : [4, 5])
