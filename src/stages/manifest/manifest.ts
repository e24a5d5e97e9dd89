import { createReadStream } from 'node:fs'
import { open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { FatalError } from '../../cli/errors.js'
import type { StageContext } from '../../cli/stage.js'
import { PROTOCOL_VERSION, type HeaderRecord, type Rec } from '../../protocol/records.js'
import type { Store } from '../../store/store.js'
import { errnoText } from '../../util/errno-text.js'
import { writeGzipMembers } from '../../util/gzip-members.js'
import { VERSION } from '../../version.js'
import { countRequests, REQUEST_COUNTER_PREFIX } from '../request-counters.js'
import type { RunIdentity } from '../run-identity.js'
import { InputCollector, type InputSource } from './collect-inputs.js'
import { ManifestLines, type ManifestVerdict } from './manifest-lines.js'
import { ProblemLog } from './problem-log.js'
import { SpillDir } from './spill-dir.js'

/** Everything one run of sysbackup-manifest needs, options and configuration resolved. */
export interface ManifestSettings {
  run: RunIdentity
  /** The store to upload to; its id goes into the header either way. */
  store: Store
  dryRun: boolean
  sources: InputSource[]
  /** Also write the uncompressed manifest here. */
  outputFile?: string
  /** Where spill files go (a private directory is made in it). */
  tmpDir: string
  /** Entries held in memory before a sorted run is spilled, in bytes. */
  sortMemoryBytes: number
  now: () => Date
}

/**
 * gzip level of the manifest. Measured with bench/manifest.ts on a
 * 200,000-entry manifest (93.5 MiB of NDJSON): level 1 gave 12.45 MiB in
 * 0.86 s, level 4 11.90 MiB in 1.30 s, level 6 (zlib's default) 11.83 MiB
 * in 1.96 s, level 9 11.81 MiB in 2.69 s. Level 4 is within 1% of the best
 * size for two thirds of the default's time.
 */
export const MANIFEST_GZIP_LEVEL = 4

/**
 * Uncompressed bytes per gzip member of the manifest: members are
 * compressed in parallel (writeGzipMembers). A gzip stream compressed on
 * one thread while the stage waited: the bench's unchanged run spent its
 * last ~0.1 s (20,000 files) waiting for it.
 */
const MANIFEST_MEMBER_BYTES = 1 << 20

/** The trailer counters of sysbackup-manifest (plus `req.*`). */
export const MANIFEST_COUNTERS = ['inputs', 'entries', 'duplicates', 'snapshots', 'sortRuns'] as const

/** The key of a run's manifest: `manifests/HOST/TIMESTAMP.ndjson.gz`, `….incomplete.ndjson.gz` when incomplete. */
export function manifestKey(run: RunIdentity, complete: boolean): string {
  return `manifests/${run.host}/${run.stamp}${complete ? '' : '.incomplete'}.ndjson.gz`
}

/**
 * The records of one run: reads every input, builds the manifest (see
 * ManifestLines), writes it compressed to a spill file, and uploads it
 * under lock until R; then yields one `manifest` record. A run found
 * incomplete is still uploaded, at the `.incomplete` key, and marked
 * incomplete (exit 1). Nothing is uploaded when an input breaks the
 * protocol (the error is thrown: exit 3), nor when the stage is stopped.
 * Spill files are removed however it ends.
 */
export async function* buildManifest(ctx: StageContext, settings: ManifestSettings): AsyncGenerator<Rec> {
  for (const name of MANIFEST_COUNTERS) ctx.count(name, 0)
  ctx.count('inputs', settings.sources.length)
  const dir = new SpillDir(settings.tmpDir)
  const problems = new ProblemLog(ctx)
  const startedAt = settings.now()
  let requestsCounted = false
  const counted = () => {
    if (!requestsCounted) countRequests(ctx, settings.store)
    requestsCounted = true
  }
  try {
    const inputs = new InputCollector(ctx, problems, { retainUntil: settings.run.retainUntil, dir, sortMemoryBytes: settings.sortMemoryBytes, dryRun: settings.dryRun })
    await inputs.readAll(settings.sources)
    if (ctx.signal.aborted) return
    ctx.count('snapshots', inputs.snapshots)

    const reasons = inputs.incompleteness()
    const verdict: ManifestVerdict = reasons.length === 0 ? { complete: true } : { complete: false, reason: reasons.join('; ') }
    const header = manifestHeader(settings, inputs, startedAt)
    const manifest = new ManifestLines(header, inputs, problems, verdict, dir, settings.now)
    const compressed = await dir.file('manifest.ndjson.gz')
    await writeManifest(manifest.blocks(), compressed, settings.outputFile, ctx.signal)
    ctx.count('entries', manifest.counts.entries)
    ctx.count('duplicates', manifest.counts.duplicates)
    ctx.count('sortRuns', inputs.sorter.runs)
    problems.finish()
    if (ctx.signal.aborted) return
    if (!verdict.complete) ctx.markIncomplete(verdict.reason!)

    const key = manifestKey(settings.run, verdict.complete)
    let versionId: string | undefined
    if (!settings.dryRun) {
      let stored
      try {
        // Everything the manifest refers to is durable before it exists, and
        // the manifest before its record says it is stored (a local store
        // batches durability; S3 needs neither).
        await settings.store.makeDurable?.()
        stored = await settings.store.putStream(key, createReadStream(compressed), {
          lockMode: settings.run.lockMode,
          retainUntil: settings.run.retainUntil,
          contentType: 'application/gzip',
          metadata: {
            complete: String(verdict.complete),
            entries: String(manifest.counts.entries),
            files: String(manifest.counts.files),
            bytes: String(manifest.counts.bytes),
            digest: manifest.digest,
          },
          signal: ctx.signal,
        })
        await settings.store.makeDurable?.()
      } catch (err) {
        // Stopped during the upload: nothing is stored, and the runner reports the interruption.
        if (ctx.signal.aborted) return
        throw err
      }
      versionId = stored!.versionId
    }
    counted()
    const stages = inputs.inputs.flatMap((input) => input.stages.map((run) => ({
      producer: run.header.producer,
      source: run.source,
      ok: run.trailer?.ok ?? false,
      ...(run.trailer === null ? { reason: 'cut off: no trailer' } : run.trailer.reason !== undefined ? { reason: run.trailer.reason } : {}),
      counts: run.trailer?.counts ?? {},
    })))
    const record: Rec = {
      type: 'manifest',
      key,
      ...(versionId !== undefined && { versionId }),
      retainUntil: settings.run.retainUntil.toISOString(),
      complete: verdict.complete,
      ...(verdict.reason !== undefined && { reason: verdict.reason }),
      digest: manifest.digest,
      counts: { ...manifest.counts },
      stages,
      requests: sumRequests([...stages.map((s) => s.counts), ctx.counts]),
      ...(settings.dryRun && { dryRun: true }),
    }
    yield record
  } finally {
    counted()
    await dir.remove()
  }
}

function manifestHeader(settings: ManifestSettings, inputs: InputCollector, startedAt: Date): HeaderRecord {
  // The run began when its first stage did.
  let earliest = startedAt
  for (const input of inputs.inputs) {
    for (const run of input.stages) {
      const t = new Date(run.header.startedAt)
      if (!Number.isNaN(t.getTime()) && t < earliest) earliest = t
    }
  }
  return {
    type: 'header',
    producer: 'sysbackup-manifest',
    protocol: PROTOCOL_VERSION,
    version: VERSION,
    host: settings.run.host,
    runTime: settings.run.runTime.toISOString(),
    startedAt: earliest.toISOString(),
    finishedAt: settings.now().toISOString(),
    retainUntil: settings.run.retainUntil.toISOString(),
    lockMode: settings.run.lockMode,
    daysRetained: settings.run.daysRetained,
    store: settings.store.id,
  }
}

/** `req.*` counters summed over trailers' counts, by API name. */
function sumRequests(all: Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {}
  for (const counts of all) {
    for (const [name, n] of Object.entries(counts)) {
      if (name.startsWith(REQUEST_COUNTER_PREFIX) && typeof n === 'number') {
        const api = name.slice(REQUEST_COUNTER_PREFIX.length)
        sum[api] = (sum[api] ?? 0) + n
      }
    }
  }
  return sum
}

/**
 * Writes the manifest's lines gzip-compressed (one gzip file of several
 * members) to `compressed` and, when
 * asked, uncompressed to `outputFile` (through a temporary file renamed
 * into place once complete, so a failed run leaves no half manifest there).
 */
async function writeManifest(blocks: AsyncIterable<Buffer>, compressed: string, outputFile: string | undefined, signal: AbortSignal): Promise<void> {
  let output: { handle: FileHandle, temp: string } | undefined
  if (outputFile !== undefined) {
    const temp = join(dirname(outputFile), `.${basename(outputFile)}.${process.pid}.tmp`)
    try {
      output = { handle: await open(temp, 'w', 0o644), temp }
    } catch (err) {
      throw new FatalError(`--output ${outputFile}: cannot write: ${errnoText((err as NodeJS.ErrnoException).code ?? 'EIO')}`)
    }
  }
  let done = false
  try {
    await writeGzipMembers(chunks(blocks, output?.handle, signal), compressed, { level: MANIFEST_GZIP_LEVEL, memberBytes: MANIFEST_MEMBER_BYTES })
    done = !signal.aborted
  } finally {
    if (output !== undefined) {
      await output.handle.close()
      if (done) await rename(output.temp, outputFile!)
      else await unlink(output.temp).catch(() => {})
    }
  }
}

/**
 * The manifest's blocks, each also written to `output`. Stops early when
 * `signal` aborts (the caller then stores nothing).
 */
async function* chunks(blocks: AsyncIterable<Buffer>, output: FileHandle | undefined, signal: AbortSignal): AsyncGenerator<Buffer> {
  for await (const block of blocks) {
    if (signal.aborted) return
    if (output !== undefined) await output.write(block)
    yield block
  }
}
