import t from 'tap'
import { dateOfStamp, manifestPrefix, parseManifestKey } from '../../src/manifests/manifest-key.js'
import { manifestKey } from '../../src/stages/manifest/manifest.js'
import { keyTimestamp, type RunIdentity } from '../../src/stages/run-identity.js'

t.test('keys of complete and incomplete runs, and back', async (t) => {
  const time = new Date('2026-11-26T08:00:09.750Z')
  const run = { host: 'web1', stamp: keyTimestamp(time) } as RunIdentity
  t.equal(manifestKey(run, true), 'manifests/web1/20261126T080009Z.ndjson.gz', 'the keys sysbackup-manifest writes')
  t.equal(manifestKey(run, false), 'manifests/web1/20261126T080009Z.incomplete.ndjson.gz')
  t.match(parseManifestKey(manifestKey(run, false)), { host: 'web1', stamp: '20261126T080009Z', complete: false }, 'are the keys read here')
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
