import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { FatalError } from '../../cli/errors.js'
import { errnoText } from '../../util/errno-text.js'

/**
 * A private temporary directory for spill files, made on first use (a
 * small manifest never touches the disk) and removed with everything in it
 * by remove(), which the stage calls however it ends.
 */
export class SpillDir {
  private made: Promise<string> | undefined
  private files = 0

  constructor(private readonly parent: string) {}

  /** A fresh file name in the directory (the directory is made if need be). */
  async file(name: string): Promise<string> {
    this.made ??= mkdtemp(join(this.parent, 'sysbackup-manifest-')).catch((err: NodeJS.ErrnoException) => {
      throw new FatalError(`${this.parent}: cannot make a directory for spill files: ${errnoText(err.code ?? 'EIO')} (see --tmp-dir)`)
    })
    return join(await this.made, `${++this.files}-${name}`)
  }

  /** Whether anything was spilled. */
  get used(): boolean {
    return this.made !== undefined
  }

  /** Removes the directory and its files; never throws. */
  async remove(): Promise<void> {
    if (this.made === undefined) return
    try {
      await rm(await this.made, { recursive: true, force: true })
    } catch {
      // Nothing was made, or it is gone already.
    }
  }
}
