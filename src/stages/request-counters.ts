import type { StageContext } from '../cli/stage.js'
import type { Store } from '../store/store.js'

/** Prefix of the trailer counters that count store requests by S3 API name (LAYOUT-CONTRACT). */
export const REQUEST_COUNTER_PREFIX = 'req.'

/**
 * Adds a `req.<Api>` trailer counter for every kind of request `store` has
 * sent so far, so the wrapper can sum requests by kind across stages.
 * Call once, at the end of the stage.
 */
export function countRequests(ctx: StageContext, store: Store): void {
  for (const [api, n] of Object.entries(store.requests.snapshot())) ctx.count(REQUEST_COUNTER_PREFIX + api, n)
}
