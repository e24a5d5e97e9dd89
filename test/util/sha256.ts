import t from 'tap'
import { createHash } from 'node:crypto'
import { sha256Of } from '../../src/util/sha256.js'

t.test('sha256Of gives what a Hash object gives, for buffers and strings, hex and base64', async (t) => {
  const inputs = [Buffer.alloc(0), Buffer.from('file-name.so.1'), Buffer.alloc(70_000, 0xa5).subarray(3), 'naïve text']
  for (const data of inputs) {
    t.equal(sha256Of(data), createHash('sha256').update(data).digest('hex'), `hex of ${data.length} units`)
    t.equal(sha256Of(data, 'base64'), createHash('sha256').update(data).digest('base64'), `base64 of ${data.length} units`)
  }
  t.equal(sha256Of(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'the empty input')
})
