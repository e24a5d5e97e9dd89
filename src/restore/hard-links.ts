import type { Inode } from './on-disk.js'

/** Where the first restored entry of a group of hard links is, and its inode. */
export interface LinkSource {
  parts: readonly Buffer[]
  st: Inode
}

/** A claim on a group of hard links: the leader restores the content; followers link to it. */
export type LinkClaim =
  | { leader: true, settle: (source: LinkSource | null) => void }
  | { leader: false, source: Promise<LinkSource | null> }

/**
 * The hard links of a restore. Files of the manifest that share a
 * `storageId` (and have nlink > 1) are one inode on the backed-up machine:
 * the first one met (the leader) is written, every later one waits for it
 * and is made a link of it, so the link structure comes back. When the
 * leader could not be restored (settled with null), a follower is written
 * on its own. Memory: one entry per group of hard links.
 */
export class HardLinks {
  private readonly groups = new Map<string, Promise<LinkSource | null>>()

  claim(storageId: string): LinkClaim {
    const known = this.groups.get(storageId)
    if (known !== undefined) return { leader: false, source: known }
    let settle!: (source: LinkSource | null) => void
    this.groups.set(storageId, new Promise((resolve) => { settle = resolve }))
    return { leader: true, settle }
  }
}
