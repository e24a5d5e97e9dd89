import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BIN_SHEBANG, NODE_START_FLAGS } from '../../src/cli/node-flags.js'
import { ROOT } from '../helpers/bin.js'

const BIN_DIR = join(ROOT, 'bin')

t.test('every bin file starts node through env with the package\'s flags', async (t) => {
  const bins = readdirSync(BIN_DIR).filter((name) => name.endsWith('.js'))
  t.ok(bins.length >= 8, `${bins.length} bin files`)
  for (const name of bins) {
    t.equal(readFileSync(join(BIN_DIR, name), 'utf8').split('\n')[0], `#!/usr/bin/env -S node ${NODE_START_FLAGS.join(' ')}`, name)
  }
  t.equal(BIN_SHEBANG, `#!/usr/bin/env -S node ${NODE_START_FLAGS.join(' ')}`)
})

t.test('a bin run through its #! line has a young generation of 16 MB at most; under plain node it grows past that', async (t) => {
  // The preload makes garbage a tenth of which survives a while, as a
  // run's records do, then notes the young generation's size and node's
  // own flags; the program itself then only prints its version.
  const dir = t.testdir({})
  const noted = join(dir, 'noted')
  const preload = join(dir, 'churn.mjs')
  writeFileSync(preload, `import { getHeapSpaceStatistics } from 'node:v8'
import { appendFileSync } from 'node:fs'
const ring = new Array(100000)
for (let i = 0; i < 3000000; i++) ring[i % ring.length] = i % 10 === 0 ? { i, s: 'x' + i } : { i }
const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
appendFileSync(${JSON.stringify(noted)}, JSON.stringify({ young, execArgv: process.execArgv }) + '\\n')
`)
  const env = { ...process.env, NODE_OPTIONS: `--import=${preload}`, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }
  const direct = spawnSync(join(BIN_DIR, 'sysbackup-pick.js'), ['--version'], { env, encoding: 'utf8' })
  t.equal(direct.status, 0, direct.stderr)
  const plain = spawnSync(process.execPath, [join(BIN_DIR, 'sysbackup-pick.js'), '--version'], { env, encoding: 'utf8' })
  t.equal(plain.status, 0, plain.stderr)
  const [viaShebang, viaNode] = readFileSync(noted, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { young: number, execArgv: string[] })
  t.same(viaShebang!.execArgv, NODE_START_FLAGS, 'node was given the flags')
  t.ok(viaShebang!.young <= 16 * 1048576, `young generation ${viaShebang!.young / 1048576} MB through the #! line`)
  t.same(viaNode!.execArgv, [])
  t.ok(viaNode!.young > 16 * 1048576, `young generation ${viaNode!.young / 1048576} MB under plain node`)
})
