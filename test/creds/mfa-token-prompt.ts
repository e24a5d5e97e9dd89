import t from 'tap'
import { join } from 'node:path'
import { terminalTokenPrompt } from '../../src/creds/mfa-token-prompt.js'
import { ROOT } from '../helpers/bin.js'
import { runOnTerminal } from '../helpers/terminal.js'

// The built module, run on a pseudo-terminal of its own.
const PROMPT = `import(${JSON.stringify(join(ROOT, 'dist/creds/mfa-token-prompt.js'))})` +
  '.then((m) => m.terminalTokenPrompt()("arn:aws:iam::123456789012:mfa/admin"))' +
  '.then((code) => console.log("code=[" + code + "]"), (e) => { console.log("error: " + e.message); process.exitCode = 2 })'

t.test('asks on the terminal, naming the device, with echo on', async (t) => {
  const r = await runOnTerminal(`'${process.execPath}' -e '${PROMPT}'`, {}, [
    { expect: /MFA code for arn:aws:iam::123456789012:mfa\/admin: $/, send: '123456\r' },
  ])
  t.equal(r.status, 0, r.output)
  t.match(r.output, /mfa\/admin: 123456\r\n/, 'the code is echoed (it is used once)')
  t.match(r.output, /code=\[123456\]/)
})

t.test('the terminal\'s own line editing applies', async (t) => {
  const r = await runOnTerminal(`'${process.execPath}' -e '${PROMPT}'`, {}, [
    { expect: /mfa\/admin: $/, send: '12345x\x7f6\r' },
  ])
  t.match(r.output, /code=\[123456\]/)
})

t.test('no terminal: a usage error', async (t) => {
  await t.rejects(terminalTokenPrompt('/nonexistent/tty')('GAHT12345678'),
    { exitStatus: 2, message: 'no terminal to ask on (/nonexistent/tty: ENOENT); an MFA code can only be typed on a terminal' })
})
