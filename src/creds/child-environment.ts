/**
 * Names of AWS variables that carry or point at credentials: anything
 * `AWS_…` naming a key, secret, token, password or credential
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_SECURITY_TOKEN, AWS_CREDENTIAL_EXPIRATION,
 * AWS_CONTAINER_AUTHORIZATION_TOKEN, AWS_WEB_IDENTITY_TOKEN_FILE,
 * AWS_SHARED_CREDENTIALS_FILE, …).
 */
const AWS_CREDENTIAL_VARIABLE = /^AWS_\w*(KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL)/i

/**
 * The environment for a child process of a restore (a snapshot's
 * restore-through command, a picker…): `env` without any AWS credential
 * variable, and without any variable whose value contains one of
 * `secrets` (e.g. the package's secret key and the session token in use),
 * whatever its name. Everything else (PATH, HOME, AWS_REGION…) is kept.
 * Returns a new object; `env` is not changed.
 */
export function scrubbedEnvironment(env: NodeJS.ProcessEnv, secrets: readonly string[] = []): NodeJS.ProcessEnv {
  const needles = secrets.filter((s) => s.length >= 8)
  const out: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue
    if (AWS_CREDENTIAL_VARIABLE.test(name)) continue
    if (needles.some((s) => value.includes(s))) continue
    out[name] = value
  }
  return out
}
