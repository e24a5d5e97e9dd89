import t from 'tap'
import { closeSync, openSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readPasswordFromFd } from '../../src/setup/read-password.js'

function fdWith(dir: string, name: string, text: string): number {
  writeFileSync(join(dir, name), text)
  return openSync(join(dir, name), 'r')
}

t.test('a password from a descriptor: one line, its newline dropped', async (t) => {
  const dir = t.testdir({})
  const fd = fdWith(dir, 'ok', 'pass word\n')
  t.equal(readPasswordFromFd(fd), 'pass word')
  closeSync(fd)
  const crlf = fdWith(dir, 'crlf', 'pw\r\n')
  t.equal(readPasswordFromFd(crlf), 'pw')
  closeSync(crlf)
  const empty = fdWith(dir, 'empty', '\n')
  t.throws(() => readPasswordFromFd(empty), { message: `--password-fd ${empty}: empty password`, exitStatus: 2 })
  closeSync(empty)
  const two = fdWith(dir, 'two', 'one\ntwo\n')
  t.throws(() => readPasswordFromFd(two), { message: `--password-fd ${two}: the password must be one line` })
  closeSync(two)
  t.throws(() => readPasswordFromFd(987), { message: '--password-fd 987: cannot read: EBADF' })
})
