/**
 * STAND-IN FOR sysbackup-upload AND sysbackup-manifest, until they are
 * merged: stores the content of hashed file records in a store (once per
 * content, gzip when the hash stage said so) and writes the manifest object
 * as their contract says. Replace with runs of bin/sysbackup-upload.js and
 * bin/sysbackup-manifest.js.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { manifestKey } from '../../src/manifests/manifest-key.js'
import { decodePath, pathBytes } from '../../src/protocol/path-codec.js'
import type { Rec } from '../../src/protocol/records.js'
import type { Store } from '../../src/store/store.js'

export async function standInUploadAndManifest(store: Store, hashed: Rec[], host: string, runTime: Date): Promise<string> {
  const lock = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(runTime.getTime() + 14 * 86_400_000) }
  const stored = new Map<string, string>()
  const entries: Rec[] = []
  for (const rec of hashed) {
    if (!['file', 'dir', 'symlink', 'special'].includes(rec.type)) continue
    if (rec.type === 'file' && typeof rec.sha256 === 'string') {
      const key = `content/${rec.sha256}`
      let versionId = stored.get(key)
      if (versionId === undefined) {
        const content = await readFile(decodePath(rec))
        const gzip = rec.gzip === true
        versionId = (await store.putBuffer(key, gzip ? gzipSync(content, { level: 1 }) : content, {
          ...lock, metadata: { sha256: rec.sha256, size: String(content.length), encoding: gzip ? 'gzip' : 'identity' }, ...(gzip && { contentEncoding: 'gzip' }),
        })).versionId
        stored.set(key, versionId)
      }
      entries.push({ ...rec, key, versionId })
    } else {
      entries.push(rec)
    }
  }
  entries.sort((a, b) => Buffer.compare(pathBytes(decodePath(a)), pathBytes(decodePath(b))))
  const header = { type: 'header', producer: 'sysbackup-manifest', protocol: 1, version: '0', startedAt: runTime.toISOString(), host, runTime: runTime.toISOString() }
  const text = [header, ...entries].map((r) => JSON.stringify(r) + '\n').join('')
  const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`
  const trailer = { type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: { entries: entries.length }, digest, finishedAt: new Date().toISOString() }
  const key = manifestKey(host, runTime, true)
  await store.putBuffer(key, gzipSync(text + JSON.stringify(trailer) + '\n'), { ...lock, metadata: { complete: 'true', entries: String(entries.length), digest } })
  return key
}
