import t from 'tap'
import { transportConfig, transportFromEnv } from '../../src/aws/transport.js'

t.test('S3_SYSBACKUP_TRANSPORT overrides retry and timeout settings', async (t) => {
  t.same(transportFromEnv({}), {})
  t.same(transportFromEnv({ S3_SYSBACKUP_TRANSPORT: ' requestTimeoutMs=1500, maxAttempts=3 ,retryMode=adaptive' }), { requestTimeoutMs: 1500, maxAttempts: 3, retryMode: 'adaptive' })
  t.match(transportConfig(transportFromEnv({ S3_SYSBACKUP_TRANSPORT: 'requestTimeoutMs=1500' })), { requestHandler: { requestTimeout: 1500, socketTimeout: 120_000 } })
  t.throws(() => transportFromEnv({ S3_SYSBACKUP_TRANSPORT: 'requestTimeoutMs=soon' }), { message: 'S3_SYSBACKUP_TRANSPORT: requestTimeoutMs "soon" is not a positive whole number' })
  t.throws(() => transportFromEnv({ S3_SYSBACKUP_TRANSPORT: 'timeout=5' }), { message: /^S3_SYSBACKUP_TRANSPORT: unknown setting "timeout" \(known: maxAttempts, / })
  t.throws(() => transportFromEnv({ S3_SYSBACKUP_TRANSPORT: 'retryMode=legacy' }), { message: 'S3_SYSBACKUP_TRANSPORT: retryMode "legacy" is not standard or adaptive' })
})
