import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { runCommand } from '../../src/cli/command.js'
import { makeDiffCommand } from '../../src/commands/diff.js'
import { runBackup, type StoredManifest } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'
import { startMoto, type Moto } from '../helpers/moto.js'
import { NOBODY } from '../helpers/sample-tree.js'

// s3-sysbackup diff on two real backups of a tree changed in between (every
// kind of change), on the local store and on moto.

const T1 = new Date('2026-11-25T08:00:00Z')
const T2 = new Date('2026-11-26T08:00:00Z')

/** The tree before: one entry per kind of change to come, and one that stays. */
function before(src: string): void {
  mkdirSync(join(src, 'dir'), { recursive: true })
  writeFileSync(join(src, 'keep'), 'unchanged\n')
  writeFileSync(join(src, 'content'), 'one\n')
  writeFileSync(join(src, 'mode'), 'mode\n', { mode: 0o644 })
  chmodSync(join(src, 'mode'), 0o644)
  writeFileSync(join(src, 'owner'), 'owner\n')
  writeFileSync(join(src, 'acl'), 'acl\n')
  chmodSync(join(src, 'acl'), 0o640)
  symlinkSync('a', join(src, 'link'))
  writeFileSync(join(src, 'retyped'), 'a file first\n')
  writeFileSync(join(src, 'removed'), 'gone soon\n')
  writeFileSync(join(src, 'xattr'), 'x\n')
  setXattr(join(src, 'xattr'), 'user.tag', 'v1')
}

/** python3: Node has no call for extended attributes. */
function setXattr(path: string, name: string, value: string): void {
  execFileSync('python3', ['-c', 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())', path, name, value])
}

/** The changes. */
function change(src: string): void {
  writeFileSync(join(src, 'content'), 'two, longer\n')
  chmodSync(join(src, 'mode'), 0o600)
  chownSync(join(src, 'owner'), NOBODY, NOBODY)
  execFileSync('setfacl', ['-m', 'u:nobody:r--', join(src, 'acl')])
  execFileSync('setfacl', ['-d', '-m', 'u:nobody:rwx', join(src, 'dir')])
  unlinkSync(join(src, 'link'))
  symlinkSync('b', join(src, 'link'))
  unlinkSync(join(src, 'retyped'))
  symlinkSync('keep', join(src, 'retyped'))
  rmSync(join(src, 'removed'))
  writeFileSync(join(src, 'added'), 'new\n')
  setXattr(join(src, 'xattr'), 'user.tag', 'v2')
  setXattr(join(src, 'xattr'), 'user.more', 'm')
}

function hashOf(m: StoredManifest, path: string): string {
  return m.records.find((r) => r.path === path)!.sha256 as string
}

/** How the stages and diff reach one store: arguments, or a configuration (its text for the stages, its directory for diff). */
interface Setup { storeArgs: string[], env: NodeJS.ProcessEnv, conf?: string, configDir?: string }

function suite(t: Test, name: string, setup: (scratch: string) => Promise<Setup>) {
  t.test(name, async (t) => {
    const scratch = t.testdir({})
    const s = await setup(scratch)
    const src = join(scratch, 'src')
    before(src)
    const backup = (host: string, runTime: Date) => runBackup(src, scratch, { host, runTime, storeArgs: s.storeArgs, env: s.env, ...(s.conf !== undefined && { conf: s.conf }) })
    const a: StoredManifest = await backup('web1', T1)
    change(src)
    const b: StoredManifest = await backup('web1', T2)
    await backup('twin', T2)
    const diff = makeDiffCommand()
    const run = async (...args: string[]) => {
      const io = testIO('', s.env)
      const status = await runCommand(diff, [...args, ...s.storeArgs, ...(s.configDir !== undefined ? ['--config', s.configDir] : [])], io)
      return { status, out: io.out(), err: io.err(), records: () => io.records() }
    }

    const human = await run('web1@2026-11-25', 'web1')
    t.equal(human.status, 1, human.err)
    t.equal(human.err, '')
    t.equal(human.out, [
      `M ${src}/acl  acl (none)→user::rw-,user:nobody:r--,group::r--,mask::r--,other::---`,
      `A ${src}/added file`,
      `M ${src}/content  content ${hashOf(a, `${src}/content`).slice(0, 12)}…→${hashOf(b, `${src}/content`).slice(0, 12)}… (4 B→12 B)`,
      `M ${src}/dir  defaultAcl (none)→user::rwx,user:nobody:rwx,group::r-x,mask::rwx,other::r-x`,
      `M ${src}/link  target a→b`,
      `M ${src}/mode  mode 0644→0600`,
      `M ${src}/owner  owner root→nobody, group root→nogroup`,
      `R ${src}/removed file`,
      `M ${src}/retyped  type file→symlink, mode 0644→0777, target (none)→keep`,
      `M ${src}/xattr  xattrs user.tag=djE=→user.more=bQ==,user.tag=djI=`,
      `${a.key} → ${b.key}: 1 added, 1 removed, 8 modified (1 in content, 7 in metadata), ${a.records.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type)).length - 9} unchanged`,
      '',
    ].join('\n'))

    const json = await run('--json', a.key, b.key)
    t.equal(json.status, 1)
    const records = json.records()
    t.match(records.find((r) => r.path === `${src}/owner`), { type: 'change', change: 'modified', entry: 'file', metadata: { owner: { from: 'root', to: 'nobody' }, group: { from: 'root', to: 'nogroup' } } })
    t.match(records.find((r) => r.path === `${src}/added`), { type: 'change', change: 'added', entry: 'file' })
    t.match(records.find((r) => r.path === `${src}/content`), { change: 'modified', content: { fromSize: 4, toSize: 12 } })
    t.notOk(records.some((r) => r.path === `${src}/keep`), 'an unchanged entry is not listed')
    t.match(records[records.length - 1], { type: 'summary', from: a.key, to: b.key, added: 1, removed: 1, modified: 8, contentChanged: 1, metadataChanged: 7, same: false })

    const reverse = await run('--json', b.key, a.key)
    t.match(reverse.records().find((r) => r.path === `${src}/added`), { change: 'removed' })
    t.match(reverse.records().find((r) => r.path === `${src}/mode`), { metadata: { mode: { from: '0600', to: '0644' } } })

    const hosts = await run('web1', 'twin')
    t.equal(hosts.status, 0, 'two hosts with the same tree: no differences')
    t.match(hosts.out, /: 0 added, 0 removed, 0 modified \(0 in content, 0 in metadata\), \d+ unchanged\n$/)

    const missing = await run('web1@2026-11-01', 'web1')
    t.equal(missing.status, 2)
    t.match(missing.err, /^s3-sysbackup diff: no complete backup of host "web1" at or before 2026-11-01T23:59:59.999Z/)
  })
}

suite(t, 'local directory store', async (scratch) => ({ storeArgs: ['--store', join(scratch, 'store')], env: {} }))

let moto: Moto | undefined
t.teardown(async () => { await moto?.stop() })
suite(t, 'S3 bucket on moto', async (scratch) => {
  moto = await startMoto()
  Object.assign(process.env, moto.env)
  const client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
  await client.send(new CreateBucketCommand({ Bucket: 'backups', ObjectLockEnabledForBucket: true }))
  client.destroy()
  const configDir = join(scratch, 'diff-conf')
  mkdirSync(configDir, { recursive: true })
  const conf = `[s3]\nbucket = backups\nendpoint = ${moto.endpoint}\n`
  writeFileSync(join(configDir, 'conf'), conf)
  return { storeArgs: [], env: moto.env, conf, configDir }
})
