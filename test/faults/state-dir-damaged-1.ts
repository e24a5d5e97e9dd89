import t from 'tap'
import { stateDirCases } from '../helpers/state-dir-cases.js'

// A state directory that is full, damaged or another bucket's still gives a correct backup (see stateDirCases).
stateDirCases(t, ['truncated', 'corrupted'])
