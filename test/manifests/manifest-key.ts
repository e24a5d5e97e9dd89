import t from 'tap'
import { dateOfStamp, manifestKey, manifestPrefix, parseManifestKey } from '../../src/manifests/manifest-key.js'

t.test('keys of complete and incomplete runs, and back', async (t) => {
  const time = new Date('2026-11-26T08:00:09.750Z')
  t.equal(manifestKey('web1', time, true), 'manifests/web1/20261126T080009Z.ndjson.gz')
  t.equal(manifestKey('web1', time, false), 'manifests/web1/20261126T080009Z.incomplete.ndjson.gz')
  t.same(parseManifestKey('manifests/web1/20261126T080009Z.ndjson.gz'), {
    key: 'manifests/web1/20261126T080009Z.ndjson.gz', host: 'web1', stamp: '20261126T080009Z', runTime: new Date('2026-11-26T08:00:09Z'), complete: true,
  })
  t.match(parseManifestKey('manifests/db.example_2/20261126T080009Z.incomplete.ndjson.gz'), { host: 'db.example_2', complete: false })
  t.equal(manifestPrefix(), 'manifests/')
  t.equal(manifestPrefix('web1'), 'manifests/web1/')
})

t.test('what is not a manifest key', async (t) => {
  for (const key of [
    'manifests/web1/20261126T080009Z.ndjson', 'manifests/web1/20261126T080009Z.json.gz', 'manifests/20261126T080009Z.ndjson.gz',
    'manifests/we b/20261126T080009Z.ndjson.gz', 'manifests/web1/20261326T080009Z.ndjson.gz', 'manifests/web1/2026112T080009Z.ndjson.gz',
    'content/web1/20261126T080009Z.ndjson.gz', 'manifests/web1/x/20261126T080009Z.ndjson.gz',
  ]) t.equal(parseManifestKey(key), null, key)
  t.equal(dateOfStamp('20260230T000000Z'), null, 'February 30th')
  t.equal(dateOfStamp('20261126T246000Z'), null)
})
