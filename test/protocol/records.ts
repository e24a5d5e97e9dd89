import t from 'tap'
import { withFields, type Rec } from '../../src/protocol/records.js'

t.test('withFields: a new record with the fields added or replaced, the original untouched', async (t) => {
  const rec: Rec = { type: 'file', path: '/etc/hosts', size: 10, sha256: 'old' }
  const out = withFields(rec, { sha256: 'new', gzip: true })
  t.same(out, { type: 'file', path: '/etc/hosts', size: 10, sha256: 'new', gzip: true })
  t.same(Object.keys(out), ['type', 'path', 'size', 'sha256', 'gzip'], 'in the order a spread gives')
  t.same(rec, { type: 'file', path: '/etc/hosts', size: 10, sha256: 'old' })
})

t.test('withFields: an own "__proto__" key of a hand-made record stays a field, not the prototype', async (t) => {
  const rec = JSON.parse('{"type":"file","__proto__":{"polluted":true}}') as Rec
  const out = withFields(rec, { sha256: 'x' })
  t.equal(Object.getPrototypeOf(out), Object.prototype)
  t.equal((out as { polluted?: boolean }).polluted, undefined)
  t.equal(JSON.stringify(out), '{"type":"file","__proto__":{"polluted":true},"sha256":"x"}')
})
