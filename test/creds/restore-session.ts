import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import { hostname } from 'node:os'
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3'
import { restoreCredentialProvider, type RestoreSessionOptions } from '../../src/creds/restore-session.js'
import type { CredentialsPayload } from '../../src/creds/payload.js'
import { startMoto, type Moto } from '../helpers/moto.js'

/** One request that reached moto through the recording proxy. */
interface Seen {
  method: string
  url: string
  /** Form parameters of an STS (query protocol) request. */
  params: URLSearchParams
  /** The access key ID that signed it (SigV4 Credential=…). */
  signedBy: string | undefined
  securityToken: string | undefined
  /** Everything that went over the wire, to search for secrets. */
  raw: string
}

/**
 * An HTTP proxy in front of moto that records every request, and can
 * answer the next one for a given STS action itself (moto never refuses:
 * it evaluates no policy and checks no MFA code).
 */
class RecordingProxy {
  readonly seen: Seen[] = []
  private refusals = new Map<string, number>()
  private server!: Server
  endpoint = ''

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        void (async () => {
          const body = Buffer.concat(chunks)
          const params = new URLSearchParams(req.headers['content-type']?.includes('form-urlencoded') ? body.toString() : '')
          const auth = req.headers.authorization ?? ''
          this.seen.push({
            method: req.method!, url: req.url!, params,
            signedBy: /Credential=([^/]+)\//.exec(auth)?.[1],
            securityToken: req.headers['x-amz-security-token'] as string | undefined,
            raw: `${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n${body.toString('latin1')}`,
          })
          const action = params.get('Action') ?? ''
          const refuse = this.refusals.get(action) ?? 0
          if (refuse > 0) {
            this.refusals.set(action, refuse - 1)
            res.writeHead(403, { 'content-type': 'text/xml' })
            res.end('<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>MultiFactorAuthentication failed with invalid MFA one time pass code.</Message></Error><RequestId>x</RequestId></ErrorResponse>')
            return
          }
          const headers: Record<string, string> = {}
          for (const [k, v] of Object.entries(req.headers)) {
            if (typeof v === 'string' && !['host', 'content-length', 'connection', 'transfer-encoding'].includes(k)) headers[k] = v
          }
          const upstream = await fetch(this.target + req.url, { method: req.method, headers, body: ['GET', 'HEAD'].includes(req.method!) ? undefined : body })
          const answer = Buffer.from(await upstream.arrayBuffer())
          const out: Record<string, string> = {}
          upstream.headers.forEach((v, k) => { if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) out[k] = v })
          res.writeHead(upstream.status, out)
          res.end(answer)
        })().catch((err: unknown) => { res.writeHead(502); res.end(String(err)) })
      })
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.endpoint = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`
  }

  /** The next `times` requests for `action` get AccessDenied. */
  refuse(action: string, times = 1): void {
    this.refusals.set(action, times)
  }

  actions(): string[] {
    return this.seen.map((s) => s.params.get('Action') ?? `${s.method} ${s.url}`)
  }

  clear(): void {
    this.seen.length = 0
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

const PKG: CredentialsPayload = {
  accessKeyId: 'AKIAPACKAGEDKEY00001',
  secretAccessKey: 'packagedSecretAccessKeyExampleExample001',
  region: 'us-east-1',
  createdAt: '2026-11-26T08:00:00.000Z',
}
const ACCOUNT = '123456789012' // moto's account

let moto: Moto
let proxy: RecordingProxy
t.before(async () => {
  moto = await startMoto()
  proxy = new RecordingProxy(moto.endpoint)
  await proxy.start()
})
t.teardown(async () => {
  await proxy?.stop()
  await moto?.stop()
})
t.beforeEach(() => proxy.clear())

/** Options reaching moto through the proxy, one attempt per call so refusals are not retried away. */
function via(extra: RestoreSessionOptions = {}): RestoreSessionOptions {
  return { clientConfig: { endpoint: proxy.endpoint, maxAttempts: 1 }, ...extra }
}

function noSecretOnTheWire(t: Test): void {
  t.notOk(proxy.seen.some((s) => s.raw.includes(PKG.secretAccessKey)), 'the package\'s secret key never went over the wire')
  t.notOk(Object.values(process.env).some((v) => v?.includes(PKG.secretAccessKey) || v?.includes(PKG.accessKeyId)), 'nor into process.env')
}

t.test('assumes DataRestoreRole-s3-sysbackup of the key\'s account and yields the role\'s credentials', async (t) => {
  const provider = restoreCredentialProvider(PKG, via())
  const creds = await provider()
  t.match(creds, { accessKeyId: /^ASIA/, secretAccessKey: String, sessionToken: String, expiration: Date })
  t.not(creds.accessKeyId, PKG.accessKeyId, 'not the package\'s key')
  t.not(creds.secretAccessKey, PKG.secretAccessKey)
  t.same(proxy.actions(), ['GetCallerIdentity', 'AssumeRole'])
  const [who, assume] = proxy.seen
  t.equal(who!.signedBy, PKG.accessKeyId, 'GetCallerIdentity signed with the package\'s key')
  t.equal(assume!.signedBy, PKG.accessKeyId, 'AssumeRole signed with the package\'s key')
  t.equal(assume!.securityToken, undefined)
  t.equal(assume!.params.get('RoleArn'), `arn:aws:iam::${ACCOUNT}:role/DataRestoreRole-s3-sysbackup`)
  t.equal(assume!.params.get('DurationSeconds'), '3600')
  t.equal(assume!.params.get('RoleSessionName'), `s3-sysbackup-restore@${hostname()}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64))
  t.equal(await provider.roleArn(), `arn:aws:iam::${ACCOUNT}:role/DataRestoreRole-s3-sysbackup`)

  t.same(await provider(), creds, 'a second call while the session is fresh reuses it')
  t.equal(proxy.seen.length, 2, 'no further STS call')
  noSecretOnTheWire(t)
})

t.test('the role: --role-arn, else the package\'s, else DataRestoreRole-<package name>', async (t) => {
  const cases: [CredentialsPayload, RestoreSessionOptions, string, string[]][] = [
    [{ ...PKG, packageName: 'prod' }, {}, `arn:aws:iam::${ACCOUNT}:role/DataRestoreRole-prod`, ['GetCallerIdentity', 'AssumeRole']],
    [{ ...PKG, packageName: 'prod' }, { packageName: 'staging' }, `arn:aws:iam::${ACCOUNT}:role/DataRestoreRole-staging`, ['GetCallerIdentity', 'AssumeRole']],
    [{ ...PKG, roleArn: 'arn:aws:iam::111122223333:role/Packed' }, {}, 'arn:aws:iam::111122223333:role/Packed', ['AssumeRole']],
    [{ ...PKG, roleArn: 'arn:aws:iam::111122223333:role/Packed' }, { roleArn: 'arn:aws:iam::444455556666:role/Given' }, 'arn:aws:iam::444455556666:role/Given', ['AssumeRole']],
  ]
  for (const [pkg, options, arn, actions] of cases) {
    proxy.clear()
    const provider = restoreCredentialProvider(pkg, via(options))
    await provider()
    t.same(proxy.actions(), actions, arn)
    t.equal(proxy.seen.at(-1)!.params.get('RoleArn'), arn)
  }
})

t.test('SDK clients given the provider sign with the assumed role, never the package\'s key', async (t) => {
  const provider = restoreCredentialProvider(PKG, via())
  const s3 = new S3Client({ region: 'us-east-1', endpoint: proxy.endpoint, forcePathStyle: true, credentials: provider })
  await s3.send(new ListBucketsCommand({}))
  const creds = await provider()
  const listing = proxy.seen.find((s) => s.method === 'GET' && s.url.startsWith('/'))!
  t.ok(listing, 'the S3 request went through')
  t.equal(listing.signedBy, creds.accessKeyId, 'signed with the role session key')
  t.equal(listing.securityToken, creds.sessionToken, 'with its session token')
  t.notOk(proxy.seen.some((s) => s.params.get('Action') === null && s.signedBy === PKG.accessKeyId), 'no S3 request signed with the package\'s key')
  noSecretOnTheWire(t)
  s3.destroy()
})

t.test('renews the role session before it expires (long restores)', async (t) => {
  let clock = Date.now()
  const provider = restoreCredentialProvider(PKG, via({ roleSessionSeconds: 1800, now: () => clock }))
  const first = await provider()
  t.equal(proxy.seen.at(-1)!.params.get('DurationSeconds'), '1800', 'the asked lifetime is sent')
  const expiry = first.expiration!.getTime()
  t.ok(Math.abs(expiry - (Date.now() + 1_800_000)) < 60_000, 'moto granted about 1800 s')

  clock = expiry - 11 * 60_000
  t.same(await provider(), first, '11 minutes before expiry: still the same session')
  t.same(proxy.actions(), ['GetCallerIdentity', 'AssumeRole'])

  clock = expiry - 9 * 60_000
  const [second, again] = await Promise.all([provider(), provider()])
  t.not(second.accessKeyId, first.accessKeyId, '9 minutes before expiry: a new session')
  t.same(again, second, 'concurrent callers share the renewal')
  t.same(proxy.actions(), ['GetCallerIdentity', 'AssumeRole', 'AssumeRole'], 'one AssumeRole for both, and the account is not asked again')

  clock = second.expiration!.getTime() + 3_600_000
  const third = await provider()
  t.not(third.accessKeyId, second.accessKeyId, 'after a long pause (expired): renewed too')
  t.equal(proxy.actions().filter((a) => a === 'AssumeRole').length, 3)
})

t.test('the renewal margin is at most half a session, so short sessions are not renewed on every call', async (t) => {
  let clock = Date.now()
  const provider = restoreCredentialProvider(PKG, via({ roleArn: 'arn:aws:iam::123456789012:role/R', roleSessionSeconds: 900, now: () => clock }))
  const first = await provider()
  const expiry = first.expiration!.getTime()
  clock = expiry - 8 * 60_000
  t.same(await provider(), first, '8 of 15 minutes left: kept (not renewed at once with a 10-minute margin)')
  clock = expiry - 7 * 60_000
  t.not((await provider()).accessKeyId, first.accessKeyId, '7 minutes left: renewed')
  t.same(proxy.actions(), ['AssumeRole', 'AssumeRole'])
})

t.test('with an MFA device: the code is asked once and given to GetSessionToken; renewals need no new code', async (t) => {
  let clock = Date.now()
  const asked: string[] = []
  const serial = `arn:aws:iam::${ACCOUNT}:mfa/restorer`
  const provider = restoreCredentialProvider({ ...PKG, mfaSerial: serial }, via({
    now: () => clock,
    tokenPrompt: async (s) => { asked.push(s); return ` 12345${asked.length} ` },
  }))
  const first = await provider()
  t.same(asked, [serial], 'asked once, naming the device')
  t.same(proxy.actions(), ['GetCallerIdentity', 'GetSessionToken', 'AssumeRole'])
  const session = proxy.seen[1]!
  t.equal(session.signedBy, PKG.accessKeyId, 'GetSessionToken signed with the package\'s key')
  t.equal(session.params.get('SerialNumber'), serial, 'serial passed')
  t.equal(session.params.get('TokenCode'), '123451', 'code passed, trimmed')
  t.equal(session.params.get('DurationSeconds'), '43200')
  const assume = proxy.seen[2]!
  t.not(assume.signedBy, PKG.accessKeyId, 'AssumeRole signed with the MFA session, not the package\'s key')
  t.ok(assume.securityToken, 'with the MFA session\'s token')
  t.match(first, { accessKeyId: /^ASIA/, sessionToken: String })

  clock = first.expiration!.getTime() - 5 * 60_000
  const second = await provider()
  t.not(second.accessKeyId, first.accessKeyId, 'renewed')
  t.same(asked.length, 1, 'without asking for a code again')
  t.same(proxy.actions().slice(3), ['AssumeRole'])
  t.equal(proxy.seen[3]!.securityToken, assume.securityToken, 'with the same MFA session')

  clock += 13 * 3600_000
  await provider()
  t.same(asked.length, 2, 'once the 12-hour MFA session is over, a new code is asked')
  t.same(proxy.actions().slice(4), ['GetSessionToken', 'AssumeRole'])
  t.equal(proxy.seen[4]!.params.get('TokenCode'), '123452')
  noSecretOnTheWire(t)
})

t.test('a refused MFA code may be typed again, twice', async (t) => {
  const asked: number[] = []
  const provider = restoreCredentialProvider(PKG, via({
    roleArn: 'arn:aws:iam::123456789012:role/R', mfaSerial: 'GAHT12345678',
    tokenPrompt: async () => { asked.push(asked.length); return '000000' },
  }))
  proxy.refuse('GetSessionToken', 2)
  await provider()
  t.equal(asked.length, 3, 'asked three times')
  t.same(proxy.actions(), ['GetSessionToken', 'GetSessionToken', 'GetSessionToken', 'AssumeRole'])

  proxy.clear()
  proxy.refuse('GetSessionToken', 3)
  const again = restoreCredentialProvider(PKG, via({ roleArn: 'arn:aws:iam::123456789012:role/R', mfaSerial: 'GAHT12345678', tokenPrompt: async () => '000000' }))
  await t.rejects(again(), { exitStatus: 3, message: /^sts:GetSessionToken with MFA device GAHT12345678 failed: AccessDenied: MultiFactorAuthentication failed/ })
})

t.test('errors: no way to ask for the code, a code that is not 6 digits, STS refusing', async (t) => {
  const mfa = { ...PKG, mfaSerial: 'GAHT12345678', roleArn: 'arn:aws:iam::123456789012:role/R' }
  await t.rejects(restoreCredentialProvider(mfa, via())(), { exitStatus: 2, message: 'the MFA device GAHT12345678 is required, but there is no way to ask for its code' })
  await t.rejects(restoreCredentialProvider(mfa, via({ tokenPrompt: async () => '12 34' }))(), { exitStatus: 2, message: 'the MFA code must be 6 digits, not "12 34"' })
  proxy.refuse('AssumeRole')
  const provider = restoreCredentialProvider(PKG, via({ roleArn: 'arn:aws:iam::123456789012:role/R' }))
  await t.rejects(provider(), { exitStatus: 3, message: /^sts:AssumeRole arn:aws:iam::123456789012:role\/R failed: AccessDenied: / })
  t.match(await provider(), { accessKeyId: /^ASIA/ }, 'a later call tries again')
  const unreachable = restoreCredentialProvider(PKG, { clientConfig: { endpoint: 'http://127.0.0.1:9', maxAttempts: 1 } })
  await t.rejects(unreachable(), { exitStatus: 3, message: /^sts:GetCallerIdentity with the package's key failed: .*ECONNREFUSED/ })
})
