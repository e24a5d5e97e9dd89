import type { LockMode } from '../store/store.js'

/** Who references an object: a manifest, and the first entry (path or snapshot name) in it that does. */
export interface Referrer {
  host: string
  manifest: string
  path: string
}

/** One stored version referenced by the manifests being verified, with what they demand of it. */
export interface Reference {
  key: string
  versionId: string
  kind: 'content' | 'snapshot'
  /** SHA-256 (hex) of the decoded bytes, as the manifest says. */
  sha256?: string
  /** The longest retention any referencing manifest demands (its own retain-until). */
  requiredUntil: Date
  /** COMPLIANCE when any referencing manifest asked for it. */
  requiredMode: LockMode
  /** The referrer demanding the longest retention (the first, on ties): findings name it. */
  referrer: Referrer
  /** Entries, across all manifests verified, that reference this version. */
  references: number
}

/** What one entry of a manifest demands: a Reference's demands, and the entry making them. */
export type Demand = Referrer & Omit<Reference, 'referrer' | 'references'>

/**
 * Every (key, version) the verified manifests reference, each once, so
 * that an object many manifests share is checked once: many backups of
 * many hosts point at the same content. Memory: one Reference (about 300
 * bytes) per distinct version.
 */
export class ReferenceSet {
  private readonly byKey = new Map<string, Map<string, Reference>>()
  size = 0

  add(d: Demand): void {
    let versions = this.byKey.get(d.key)
    if (versions === undefined) this.byKey.set(d.key, versions = new Map())
    const ref = versions.get(d.versionId)
    if (ref === undefined) {
      versions.set(d.versionId, {
        key: d.key, versionId: d.versionId, kind: d.kind,
        ...(d.sha256 !== undefined && { sha256: d.sha256 }),
        requiredUntil: d.requiredUntil, requiredMode: d.requiredMode,
        referrer: { host: d.host, manifest: d.manifest, path: d.path }, references: 1,
      })
      this.size++
      return
    }
    ref.references++
    if (d.requiredMode === 'COMPLIANCE') ref.requiredMode = 'COMPLIANCE'
    if (d.requiredUntil.getTime() > ref.requiredUntil.getTime()) {
      ref.requiredUntil = d.requiredUntil
      ref.referrer = { host: d.host, manifest: d.manifest, path: d.path }
    }
  }

  /** The referenced versions of `key` (undefined when none). */
  versionsOf(key: string): ReadonlyMap<string, Reference> | undefined {
    return this.byKey.get(key)
  }

  /** Referenced keys, sorted (S3's listing order for these ASCII keys). */
  keys(): string[] {
    return [...this.byKey.keys()].sort()
  }

  /** Every reference, by key order, then version id. */
  *all(): Generator<Reference> {
    for (const key of this.keys()) {
      const versions = this.byKey.get(key)!
      for (const id of [...versions.keys()].sort()) yield versions.get(id)!
    }
  }
}
