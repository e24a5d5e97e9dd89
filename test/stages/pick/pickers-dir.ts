import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../../../src/cli/errors.js'
import { listPickers } from '../../../src/stages/pick/pickers-dir.js'

const SCRIPT = '#!/bin/sh\necho /etc/hosts\n'

/** A config dir whose pickers.d holds `entries` (executable scripts unless made otherwise). */
function configWith(t: Test, names: string[]): string {
  const dir = t.testdir({ conf: '', 'pickers.d': {} })
  for (const name of names) writeFileSync(join(dir, 'pickers.d', name), SCRIPT, { mode: 0o755 })
  return dir
}

t.test('pickers run in byte order of name; dot names are ignored; symlinks to executables count', async (t) => {
  const dir = configWith(t, ['20-b', '10-a', 'Z-upper', '.disabled', '100-c'])
  writeFileSync(join(dir, '.hidden-script'), SCRIPT, { mode: 0o755 })
  symlinkSync('../.hidden-script', join(dir, 'pickers.d/30-link'))
  mkdirSync(join(dir, 'pickers.d/.git'))
  t.same(listPickers(dir).map((p) => p.name), ['10-a', '100-c', '20-b', '30-link', 'Z-upper'])
  t.equal(listPickers(dir)[0]!.path, join(dir, 'pickers.d/10-a'))
})

t.test('an empty pickers.d gives no pickers', async (t) => {
  t.same(listPickers(configWith(t, [])), [])
})

/** The ConfigError message listPickers throws for `dir`. */
function refusal(t: Test, dir: string): string {
  try {
    listPickers(dir)
  } catch (err) {
    t.type(err, ConfigError)
    return (err as Error).message
  }
  t.fail('no ConfigError')
  return ''
}

t.test('anything but an executable file is a configuration error naming it', async (t) => {
  const nonExec = configWith(t, ['10-ok'])
  writeFileSync(join(nonExec, 'pickers.d/20-list'), SCRIPT, { mode: 0o644 })
  t.match(refusal(t, nonExec), new RegExp(`^${join(nonExec, 'pickers.d/20-list')}: is not executable \\(mode 0644\\); pickers.d may hold only executable files`))

  const withDir = configWith(t, [])
  mkdirSync(join(withDir, 'pickers.d/sub'))
  t.match(refusal(t, withDir), `${join(withDir, 'pickers.d/sub')}: is a directory, not an executable file`)

  const withFifo = configWith(t, [])
  execFileSync('mkfifo', [join(withFifo, 'pickers.d/fifo')])
  t.match(refusal(t, withFifo), `${join(withFifo, 'pickers.d/fifo')}: is a FIFO, not an executable file`)

  const dangling = configWith(t, [])
  symlinkSync('/nonexistent/picker', join(dangling, 'pickers.d/10-gone'))
  t.match(refusal(t, dangling), `${join(dangling, 'pickers.d/10-gone')}: dangling symlink (its target /nonexistent/picker does not exist)`)

  const loop = configWith(t, [])
  symlinkSync('10-loop', join(loop, 'pickers.d/10-loop'))
  t.match(refusal(t, loop), 'symlink loop')

  const linkToDir = configWith(t, [])
  symlinkSync('/etc', join(linkToDir, 'pickers.d/10-etc'))
  t.match(refusal(t, linkToDir), `${join(linkToDir, 'pickers.d/10-etc')}: is a directory`)

  const badName = configWith(t, [])
  writeFileSync(Buffer.from(join(badName, 'pickers.d/bad\xff'), 'latin1'), SCRIPT, { mode: 0o755 })
  t.match(refusal(t, badName), 'pickers.d/bad\\xff: picker name is not valid UTF-8')
  for (const message of [refusal(t, nonExec), refusal(t, withDir), refusal(t, dangling)]) t.notMatch(message, '\n', 'one line')
})

t.test('a missing or unusable pickers.d is a configuration error', async (t) => {
  const none = t.testdir({ conf: '' })
  t.match(refusal(t, none), `${join(none, 'pickers.d')}: no pickers directory`)
  const file = t.testdir({ conf: '', 'pickers.d': 'not a dir' })
  t.match(refusal(t, file), `${join(file, 'pickers.d')}: not a directory`)
})
