import t from 'tap'
import { HiddenLineEditor } from '../../src/creds/hidden-line-editor.js'

/** Feeds each chunk in turn; returns the final state and, when done, the line. */
function type(chunks: (string | number[])[], max = 64): { state: string, line?: string } {
  const editor = new HiddenLineEditor(max)
  let state = 'more'
  for (const c of chunks) {
    state = editor.feed(typeof c === 'string' ? Buffer.from(c, 'utf8') : Uint8Array.from(c))
    if (state !== 'more') break
  }
  return state === 'done' ? { state, line: editor.take().toString('utf8') } : { state }
}

t.test('Enter ends the line (CR in raw mode, LF from a pipe)', async (t) => {
  t.same(type(['secret\r']), { state: 'done', line: 'secret' })
  t.same(type(['sec', 'ret', '\n']), { state: 'done', line: 'secret' })
  t.same(type(['secret\rafter']), { state: 'done', line: 'secret' }, 'input after Enter is not part of it')
  t.same(type(['\r']), { state: 'done', line: '' })
})

t.test('Backspace removes whole characters, Ctrl-U the whole line', async (t) => {
  t.same(type(['secrez\x7ft\r']), { state: 'done', line: 'secret' }, 'DEL')
  t.same(type(['secrez\bt\r']), { state: 'done', line: 'secret' }, 'BS')
  t.same(type(['pässé\x7f\x7fs\r']), { state: 'done', line: 'päss' }, 'a two-byte character is removed whole')
  t.same(type(['ab密\x7fc\r']), { state: 'done', line: 'abc' }, 'a three-byte character too')
  t.same(type(['\x7f\x7fok\r']), { state: 'done', line: 'ok' }, 'backspace on an empty line does nothing')
  t.same(type(['wrong\x15right\r']), { state: 'done', line: 'right' })
})

t.test('escape sequences and control characters are ignored', async (t) => {
  t.same(type(['se\x1b[Dcr\x1b[1;5Cet\r']), { state: 'done', line: 'secret' }, 'arrow keys (CSI)')
  t.same(type(['se\x1bOHcret\r']), { state: 'done', line: 'secret' }, 'Home (SS3)')
  t.same(type(['\x1b[200~pasted\x1b[201~\r']), { state: 'done', line: 'pasted' }, 'bracketed paste markers')
  t.same(type(['a\x1bxb\r']), { state: 'done', line: 'ab' }, 'Alt+x')
  t.same(type(['a\tb\x01\x1a\r']), { state: 'done', line: 'ab' }, 'tab, Ctrl-A, Ctrl-Z')
  t.same(type(['se\x1b[', '2', '~cret\r']), { state: 'done', line: 'secret' }, 'a sequence split across chunks')
})

t.test('Ctrl-C interrupts, Ctrl-D on an empty line is end of input', async (t) => {
  t.same(type(['secr\x03et\r']), { state: 'interrupt' })
  t.same(type(['\x04']), { state: 'eof' })
  t.same(type(['ab\x04c\r']), { state: 'done', line: 'abc' }, 'Ctrl-D inside a line is ignored')
})

t.test('a line longer than the limit is refused', async (t) => {
  t.same(type(['12345678\r'], 8), { state: 'done', line: '12345678' })
  t.same(type(['123456789\r'], 8), { state: 'too-long' })
})

t.test('take() and wipe() leave nothing in the editor buffer', async (t) => {
  const editor = new HiddenLineEditor(16)
  editor.feed(Buffer.from('secret'))
  const buf = (editor as unknown as { buf: Buffer }).buf
  t.equal(buf.subarray(0, 6).toString(), 'secret')
  editor.feed(Buffer.from('\x7f\x7f'))
  t.same([...buf.subarray(4, 6)], [0, 0], 'removed characters are zeroed')
  const line = editor.take()
  t.equal(line.toString(), 'secr')
  t.ok(buf.every((b) => b === 0), 'take() zeroes the buffer')
  editor.feed(Buffer.from('again'))
  editor.wipe()
  t.ok(buf.every((b) => b === 0), 'wipe() zeroes the buffer')
})
