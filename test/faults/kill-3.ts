import t from 'tap'
import { FULL } from '../helpers/fault-bed.js'
import { killSeeds } from '../helpers/kill-case.js'

// SIGKILL of the archive wrapper or a stage at a seeded random point, then a rerun (see killSeeds).
// Seeds 4 and 5 kill each of the six processes once over the three files; FAULTS_FULL=1 adds more, 20 in all.
const seeds = FULL ? Array.from({ length: 20 }, (_, n) => n).filter((n) => Math.floor(n / 2) % 3 === 2) : [4, 5]
killSeeds(t, seeds)
