import t, { type Test } from 'tap'
import { closeSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from '../../src/cli/args.js'
import { MAX_PASSWORD_BYTES, PASSWORD_FD_OPTION, passwordSourceFromArgs, readPassword, readPasswordFromFd } from '../../src/creds/password-input.js'

async function fromFile(t: Test, content: string | Buffer): Promise<Buffer> {
  const dir = t.testdir({ pw: content })
  const fd = openSync(join(dir, 'pw'), 'r')
  try {
    return await readPasswordFromFd(fd)
  } finally {
    closeSync(fd)
  }
}

t.test('reads up to the first newline, or to end of file', async (t) => {
  t.equal((await fromFile(t, 'hunter2 with spaces\nnext line\n')).toString(), 'hunter2 with spaces')
  t.equal((await fromFile(t, 'no newline')).toString(), 'no newline')
  t.equal((await fromFile(t, 'dos line\r\n')).toString(), 'dos line', 'CRLF')
  t.equal((await fromFile(t, '  leading and trailing blanks kept  \n')).toString(), '  leading and trailing blanks kept  ')
  t.equal((await fromFile(t, '')).length, 0)
  t.same(await fromFile(t, Buffer.from([0xc3, 0xa4, 0x0a])), Buffer.from('ä'), 'bytes as given')
})

t.test('a password of up to 4096 bytes; longer is refused', async (t) => {
  t.equal((await fromFile(t, 'x'.repeat(MAX_PASSWORD_BYTES) + '\n')).length, MAX_PASSWORD_BYTES)
  t.equal((await fromFile(t, 'x'.repeat(MAX_PASSWORD_BYTES) + '\r\n')).length, MAX_PASSWORD_BYTES)
  t.equal((await fromFile(t, 'x'.repeat(MAX_PASSWORD_BYTES))).length, MAX_PASSWORD_BYTES)
  await t.rejects(fromFile(t, 'x'.repeat(MAX_PASSWORD_BYTES + 1) + '\n'), { exitStatus: 2, message: /password longer than 4096 bytes/ })
  await t.rejects(fromFile(t, 'x'.repeat(MAX_PASSWORD_BYTES * 3)), { exitStatus: 2, message: /password longer than 4096 bytes/ })
})

t.test('a descriptor that is not open is named', async (t) => {
  await t.rejects(readPasswordFromFd(977), { exitStatus: 2, message: '--password-fd 977: not an open file descriptor' })
})

t.test('readPassword: empty refused; a new password needs 8 characters', async (t) => {
  await t.rejects(readPassword({ buffer: Buffer.alloc(0) }, { prompt: '' }), { exitStatus: 2, message: 'empty password' })
  await t.rejects(readPassword({ buffer: Buffer.from('seven77') }, { prompt: '', isNew: true }), { exitStatus: 2, message: /password too short: a package password needs at least 8 characters/ })
  t.equal((await readPassword({ buffer: Buffer.from('eight888') }, { prompt: '', isNew: true })).toString(), 'eight888')
  t.equal((await readPassword({ buffer: Buffer.from('äöüäöüäö') }, { prompt: '', isNew: true })).toString(), 'äöüäöüäö', 'characters, not bytes')
  await t.rejects(readPassword({ buffer: Buffer.from('äöüäöüä') }, { prompt: '', isNew: true }), { message: /too short/ })
  t.equal((await readPassword({ buffer: Buffer.from('short') }, { prompt: '' })).toString(), 'short', 'opening accepts what was set')
})

t.test('no terminal: the message names --password-fd', async (t) => {
  await t.rejects(readPassword({ terminal: '/nonexistent/tty' }, { prompt: 'Password: ' }),
    { exitStatus: 2, message: 'no terminal to ask on (/nonexistent/tty: ENOENT); give the password with --password-fd N' })
  const dir = t.testdir({ plain: 'not a tty' })
  await t.rejects(readPassword({ terminal: join(dir, 'plain') }, { prompt: 'Password: ' }), { exitStatus: 2, message: /plain is not a terminal; give the password with --password-fd N/ })
})

t.test('--password-fd N on the command line', async (t) => {
  t.same(passwordSourceFromArgs(parseArgs([PASSWORD_FD_OPTION], ['--password-fd', '3'])), { fd: 3 })
  t.same(passwordSourceFromArgs(parseArgs([PASSWORD_FD_OPTION], [])), { terminal: '/dev/tty' })
  t.throws(() => passwordSourceFromArgs(parseArgs([PASSWORD_FD_OPTION], ['--password-fd=-1'])), { exitStatus: 2, message: /"-1" is not a file descriptor number/ })
  t.throws(() => passwordSourceFromArgs(parseArgs([PASSWORD_FD_OPTION], ['--password-fd', '1.5'])), { exitStatus: 2, message: /"1.5" is not a file descriptor number/ })
  t.throws(() => parseArgs([PASSWORD_FD_OPTION], ['--password-fd', 'three']), { exitStatus: 2, message: /"three" is not a number/ })
})
