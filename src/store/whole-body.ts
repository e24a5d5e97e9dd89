import { Readable } from 'node:stream'
import type { ObjectInfo } from './store.js'

/**
 * Bodies up to this size come from Store.get whole, already in memory
 * (LocalStore reads them at once; S3Store downloads them before it
 * answers); larger ones stream. A restore holds at most one such body per
 * job in flight.
 */
export const WHOLE_BODY_BYTES = 1024 * 1024

/**
 * A get's result for a body read whole: the stream over it is made only if
 * asked for (see Store.get). A class, not an object literal with a getter,
 * which V8 builds slowly for every file.
 */
export class WholeBody {
  private stream: Readable | undefined
  constructor(readonly info: ObjectInfo, readonly whole: Buffer) {}

  get body(): Readable {
    return (this.stream ??= Readable.from([this.whole], { objectMode: false }))
  }
}
