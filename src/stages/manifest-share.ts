import type { Rec } from '../protocol/records.js'
import { ManifestVersions } from './upload/manifest-knowledge.js'

/** What the hash stage's reading of a manifest collected for the upload stage. */
export interface SharedVersions {
  /** The manifest read. */
  key: string
  versions: ManifestVersions
}

/** A reading's side for one wanting upload stage: records in, then whether the reading was whole. */
export interface ManifestCollector {
  add(rec: Rec): void
  /** The reading of `key` ended with every record read and its digest right. */
  finish(key: string): void
}

interface Want {
  now: Date
  collected?: SharedVersions
}

/**
 * One reading of a host's newest manifest for both stages of this process
 * that want it after the state directory was lost. The hash stage reads
 * it to fill its files cache (manifest-seed.ts); the upload stage wants the
 * content versions it names (manifest-knowledge.ts) and takes them from
 * that same reading, instead of getting, inflating and parsing the
 * manifest a second time: one GetObject of it where a cold run made two,
 * as the cold-state target counts it ("plus the manifest"), and about
 * 0.6 s less of a 20,000-file cold run.
 *
 * The upload stage says it wants the versions before its input starts
 * (the hash stage reads the manifest once it is asked for its first
 * record), and checks that the manifest read is the one it would read
 * itself. A reading that was not whole (cut off, a wrong digest, an error)
 * gives nothing, and the upload stage reads the manifest itself, as it
 * does when the hash stage is a process of its own.
 */
export class ManifestShare {
  private readonly wants = new Map<string, Want>()

  /**
   * The upload stage of store `storeId` wants the versions of `host`'s
   * newest manifest retained beyond `now`. Returns what a reading collected
   * (undefined when none did), and a withdrawal for when the stage ends.
   */
  want(storeId: string, host: string, now: Date): { collected(): SharedVersions | undefined, withdraw(): void } {
    const id = wantId(storeId, host)
    const want: Want = { now }
    this.wants.set(id, want)
    return {
      collected: () => want.collected,
      withdraw: () => {
        if (this.wants.get(id) === want) this.wants.delete(id)
      },
    }
  }

  /** A collector for a reading of `host`'s newest manifest in store `storeId`, when a stage wants its versions; else undefined. */
  collector(storeId: string, host: string): ManifestCollector | undefined {
    const want = this.wants.get(wantId(storeId, host))
    if (want === undefined || want.collected !== undefined) return undefined
    const versions = new ManifestVersions(want.now)
    return {
      add: (rec) => versions.add(rec),
      finish: (key) => {
        want.collected = { key, versions }
      },
    }
  }
}

function wantId(storeId: string, host: string): string {
  return `${storeId}\0${host}`
}

/** The one share of this process, for its hash and upload stages. */
export const manifestShare = new ManifestShare()
