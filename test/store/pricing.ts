import t from 'tap'
import { estimateRequestCost, estimateStorageCost, formatDollars, requestClass, S3_PRICES } from '../../src/store/pricing.js'
import { RequestCounter } from '../../src/store/request-counter.js'

t.test('request classes', async (t) => {
  for (const api of ['PutObject', 'UploadPart', 'CreateMultipartUpload', 'CompleteMultipartUpload', 'ListObjectVersions', 'ListObjectsV2', 'PutObjectRetention', 'CopyObject']) {
    t.equal(requestClass(api), 'PUT', api)
  }
  for (const api of ['GetObject', 'HeadObject', 'GetObjectRetention', 'GetObjectLockConfiguration', 'HeadBucket', 'SomethingNew']) {
    t.equal(requestClass(api), 'GET', api)
  }
  for (const api of ['DeleteObject', 'AbortMultipartUpload']) t.equal(requestClass(api), 'FREE', api)
})

t.test('request cost arithmetic', async (t) => {
  const counter = new RequestCounter()
  counter.add('PutObject', 1500)
  counter.add('PutObjectRetention', 500)
  counter.add('ListObjectVersions', 100)
  counter.add('HeadObject', 10_000)
  counter.add('GetObject', 2_500)
  counter.add('AbortMultipartUpload', 3)
  const cost = estimateRequestCost(counter.snapshot())
  t.equal(cost.putRequests, 2100)
  t.equal(cost.getRequests, 12_500)
  t.equal(cost.freeRequests, 3)
  // 2,100 × $0.005/1000 + 12,500 × $0.0004/1000 = $0.0105 + $0.005
  t.ok(Math.abs(cost.dollars - 0.0155) < 1e-12, `$0.0155 (got ${cost.dollars})`)
  t.same(estimateRequestCost({}), { putRequests: 0, getRequests: 0, freeRequests: 0, dollars: 0 })
})

t.test('storage cost arithmetic', async (t) => {
  t.equal(S3_PRICES.storagePerGBMonth, 0.023)
  // 100 GiB for one average month
  t.ok(Math.abs(estimateStorageCost(100 * 2 ** 30, 30.4375) - 2.3) < 1e-12)
  // 1 GiB for 14 days
  t.ok(Math.abs(estimateStorageCost(2 ** 30, 14) - 0.023 * 14 / 30.4375) < 1e-15)
})

t.test('dollars as text', async (t) => {
  t.equal(formatDollars(12.345), '$12.35')
  t.equal(formatDollars(0.0155), '$0.0155')
  t.equal(formatDollars(0.0004), '$0.000400')
  t.equal(formatDollars(0), '$0.000000')
})

t.test('the counter', async (t) => {
  const c = new RequestCounter()
  t.equal(c.get('PutObject'), 0)
  c.add('PutObject')
  c.add('HeadObject', 2)
  const before = c.snapshot()
  c.add('PutObject', 3)
  t.same(c.snapshot(), { HeadObject: 2, PutObject: 4 })
  t.same(c.since(before), { PutObject: 3 })
  t.equal(c.total, 6)
})
