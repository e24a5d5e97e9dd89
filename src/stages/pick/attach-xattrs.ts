import { isUtf8 } from 'node:buffer'
import type { StageContext } from '../../cli/stage.js'
import { decodePath } from '../../protocol/path-codec.js'
import { isEntry, type EntryRecord, type Rec } from '../../protocol/records.js'
import { errnoText } from '../../util/errno-text.js'
import { ACCESS_ACL_XATTR, aclText, DEFAULT_ACL_XATTR, type IdNames } from './acl-xattr.js'
import { nulSeparatedPaths, type BatchStep, type BatchStepResult } from './attach-acls.js'
import { XattrReader } from './xattr-reader.js'

/**
 * Adds to the entry records of a batch what their extended attributes
 * hold: `acl` and `defaultAcl` from the POSIX ACLs Linux keeps there (the
 * text getfacl would print: aclText), and `xattrs`, every other attribute
 * (file capabilities, SELinux labels, `user.*`…), name to base64 value,
 * names sorted, present only when the entry has some. One python3 reader
 * serves the whole run (XattrReader): a batch costs one pipe write, where
 * getfacl cost a process per batch.
 *
 * Without python3 the batch is left as it is and the result says the ACLs
 * were not read (attachAcls then asks getfacl); one warning says extended
 * attributes are not being recorded. A path whose attributes cannot be
 * listed gets a warning naming it; so does an attribute whose name is not
 * UTF-8 (no Linux file system makes one) or an ACL that cannot be read.
 */
export class XattrStep implements BatchStep {
  private readonly reader: XattrReader
  private warned = false

  constructor(private readonly ctx: StageContext, private readonly names: IdNames, env: NodeJS.ProcessEnv, reader?: XattrReader) {
    this.reader = reader ?? new XattrReader(env)
  }

  /** Starts the reader, so python3's start-up overlaps the gathering of the first batch. */
  start(): void {
    this.reader.start()
  }

  async run(batch: Rec[]): Promise<BatchStepResult> {
    const paths = nulSeparatedPaths(batch, isEntry)
    if (paths === null) return { problems: [], aclsRead: true }
    // The reader answers by index among the paths: the same records, in the same order.
    const entries = batch.filter(isEntry)
    const found = await this.reader.read(paths)
    const problems: Rec[] = []
    if (found.unavailable !== undefined) {
      if (!this.warned && !this.ctx.signal.aborted) problems.push(this.ctx.problem('warning', `extended attributes are not being recorded: ${found.unavailable}`))
      this.warned = true
      return { problems, aclsRead: false }
    }
    for (const [index, attributes] of found.attributes) {
      const rec = entries[index]
      if (rec === undefined) continue
      const problem = (message: string) => problems.push(this.ctx.problem('warning', message, { path: decodePath(rec) }))
      const xattrs: Record<string, string> = {}
      let hasXattrs = false
      for (const { name, value } of attributes.sort((a, b) => Buffer.compare(a.name, b.name))) {
        if (!isUtf8(name)) {
          problem(`extended attribute not recorded: its name is not UTF-8 (base64 ${name.toString('base64')})`)
          continue
        }
        const text = name.toString('utf8')
        if (text === ACCESS_ACL_XATTR || text === DEFAULT_ACL_XATTR) {
          this.attachAcl(rec, text, value, problem)
          continue
        }
        xattrs[text] = value
        hasXattrs = true
      }
      if (rec.acl !== undefined || rec.defaultAcl !== undefined) this.ctx.count('acls')
      if (!hasXattrs) continue
      rec.xattrs = xattrs
      this.ctx.count('xattrs')
    }
    for (const { index, code } of found.failures) {
      const rec = entries[index]
      if (rec !== undefined) problems.push(this.ctx.problem('warning', `extended attributes and ACL not read: ${code} (${errnoText(code)})`, { path: decodePath(rec), code }))
    }
    return { problems, aclsRead: true }
  }

  private attachAcl(rec: EntryRecord, attribute: string, valueB64: string, problem: (message: string) => void): void {
    // Linux has no ACLs on symlinks; a default ACL belongs to a directory only.
    if (rec.type === 'symlink' || (attribute === DEFAULT_ACL_XATTR && rec.type !== 'dir')) return
    let text: string | undefined
    try {
      text = aclText(Buffer.from(valueB64, 'base64'), this.names, attribute === ACCESS_ACL_XATTR ? 'access' : 'default')
    } catch (err) {
      problem(`ACL not read: ${attribute}: ${(err as Error).message}`)
      return
    }
    if (text === undefined) return
    if (attribute === ACCESS_ACL_XATTR) rec.acl = text
    else rec.defaultAcl = text
  }

  close(): void {
    this.reader.close()
  }
}
