import t from 'tap'
import { BoundaryError, componentsKey, joinUnder, pathComponents } from '../../src/restore/target-path.js'

t.test('absolute normal paths become their components', async (t) => {
  t.same(pathComponents('/'), [])
  t.same(pathComponents('/etc/ssh/sshd_config').map(String), ['etc', 'ssh', 'sshd_config'])
  t.same(pathComponents('/a/.hidden/..x/...').map(String), ['a', '.hidden', '..x', '...'])
  const raw = Buffer.from([0x2f, 0x63, 0xe9, 0xff, 0x2f, 0x0a])
  t.same(pathComponents(raw), [Buffer.from([0x63, 0xe9, 0xff]), Buffer.from([0x0a])])
  t.equal(componentsKey(pathComponents('/a/b')), '/a/b')
  t.equal(joinUnder('/mnt/x', pathComponents('/etc/hosts')).toString(), '/mnt/x/etc/hosts')
  t.equal(joinUnder('/', pathComponents('/etc/hosts')).toString(), '/etc/hosts')
  t.equal(joinUnder('/mnt/x', []).toString(), '/mnt/x')
  t.equal(joinUnder('/', []).toString(), '/')
})

t.test('relative, dotted, empty and overlong components are refused', async (t) => {
  const refused: [string, RegExp][] = [
    ['etc/passwd', /not absolute/],
    ['../etc/passwd', /not absolute/],
    ['/../etc/passwd', /"\.\." component/],
    ['/etc/../../x', /"\.\." component/],
    ['/etc/./passwd', /"\." component/],
    ['/etc//passwd', /empty component/],
    ['/etc/', /empty component/],
    [`/${'x'.repeat(256)}`, /longer than 255 bytes/],
  ]
  for (const [path, why] of refused) {
    let caught: unknown
    try { pathComponents(path) } catch (err) { caught = err }
    t.ok(caught instanceof BoundaryError, `${path} refused`)
    t.match((caught as Error).message, why)
  }
})
