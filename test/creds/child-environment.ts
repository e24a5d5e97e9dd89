import t from 'tap'
import { spawnSync } from 'node:child_process'
import { scrubbedEnvironment } from '../../src/creds/child-environment.js'

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const TOKEN = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN'

const env: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  AWS_REGION: 'eu-west-3',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: SECRET,
  AWS_SESSION_TOKEN: TOKEN,
  AWS_SECURITY_TOKEN: TOKEN,
  AWS_CREDENTIAL_EXPIRATION: '2026-11-26T09:00:00Z',
  AWS_CONTAINER_AUTHORIZATION_TOKEN: 'x',
  AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token',
  AWS_SHARED_CREDENTIALS_FILE: '/root/.aws/credentials',
  MY_COPY: `prefix-${SECRET}`,
  OTHER_TOKEN_HOLDER: TOKEN,
  EMPTY: '',
}

t.test('drops AWS credential variables and any value holding a given secret', async (t) => {
  const out = scrubbedEnvironment(env, [SECRET, TOKEN])
  t.same(out, { PATH: '/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8', AWS_REGION: 'eu-west-3', AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', EMPTY: '' })
  t.equal(env.AWS_SECRET_ACCESS_KEY, SECRET, 'the input is not changed')
})

t.test('without secrets, only the credential variables go', async (t) => {
  const out = scrubbedEnvironment(env)
  t.equal(out.MY_COPY, `prefix-${SECRET}`)
  t.equal(out.AWS_SECRET_ACCESS_KEY, undefined)
  t.equal(out.AWS_ACCESS_KEY_ID, undefined)
})

t.test('short "secrets" are ignored rather than wiping unrelated variables', async (t) => {
  t.equal(scrubbedEnvironment(env, ['', '/']).PATH, '/usr/bin:/bin')
})

t.test('a child process started with it sees none of them', async (t) => {
  const child = spawnSync('/usr/bin/env', [], { env: scrubbedEnvironment(env, [SECRET, TOKEN]), encoding: 'utf8' })
  t.equal(child.status, 0)
  t.notMatch(child.stdout, SECRET)
  t.notMatch(child.stdout, TOKEN)
  t.notMatch(child.stdout, /AWS_(ACCESS|SECRET|SESSION)/)
  t.match(child.stdout, /^AWS_REGION=eu-west-3$/m)
})
