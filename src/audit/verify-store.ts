import { describeManifests } from '../manifests/list-manifests.js'
import type { LockMode, Store } from '../store/store.js'
import { chooseBackups, type BackupSelection } from './choose-backups.js'
import type { DataSample } from './data-sample.js'
import type { Finding, FindingKind, FindingSink } from './findings.js'
import { checkManifest, type ManifestSummary } from './manifest-check.js'
import { checkObjects, type ObjectCheckStats } from './object-checks.js'
import { ReferenceSet } from './reference-set.js'

export interface VerifyOptions extends BackupSelection {
  /** The configured lock mode, for manifests whose header does not state one. */
  defaultMode: LockMode
  /** Requests in flight at once. */
  concurrency: number
  now: Date
  /** --read-data / --read-data-subset: which referenced versions to download and hash. */
  readData?: DataSample
}

/** What a verification did and found. */
export interface VerifyResult {
  hosts: string[]
  manifests: ManifestSummary[]
  objects: ObjectCheckStats
  /** Findings by kind. */
  findings: Partial<Record<FindingKind, number>>
  findingCount: number
  /** Store requests sent, by S3 API name. */
  requests: Record<string, number>
}

/**
 * Verifies the chosen backups (choose-backups.ts) in `store` without
 * restoring anything: each manifest (manifest-check.ts), then every object
 * they reference, once (object-checks.ts). Every problem goes to `report`
 * as it is found. Needs only the audit role's permissions (list, read
 * retention, read manifests) unless `readData` is given, which downloads
 * content (the restore role).
 */
export async function verifyStore(store: Store, opts: VerifyOptions, report: FindingSink): Promise<VerifyResult> {
  const before = store.requests.snapshot()
  const findings: Partial<Record<FindingKind, number>> = {}
  let findingCount = 0
  const sink = (f: Finding) => {
    findings[f.kind] = (findings[f.kind] ?? 0) + 1
    findingCount++
    report(f)
  }
  const chosen = await chooseBackups(store, opts, opts.now, sink)
  const details = await describeManifests(store, chosen.manifests, opts.concurrency)
  for (const m of chosen.manifests) {
    if (!details.some((d) => d.key === m.key)) sink({ type: 'finding', kind: 'missing', host: m.host, manifest: m.key, key: m.key, detail: 'the manifest vanished while it was being verified' })
  }
  const refs = new ReferenceSet()
  const manifests: ManifestSummary[] = []
  for (const d of details) manifests.push(await checkManifest(store, d, refs, sink, opts.defaultMode, opts.now))
  const objects = await checkObjects(store, refs, sink, {
    concurrency: opts.concurrency, now: opts.now, ...(opts.readData !== undefined && { readData: opts.readData }),
  })
  return { hosts: chosen.hosts, manifests, objects, findings, findingCount, requests: store.requests.since(before) }
}
