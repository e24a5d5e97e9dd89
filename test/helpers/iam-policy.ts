/**
 * A small evaluator of IAM policy documents, after AWS's documented logic
 * for one account: an explicit Deny in any policy wins; otherwise an Allow
 * in an identity policy or a matching resource policy allows; otherwise the
 * request is implicitly denied.
 *
 * It knows Action/NotAction and Resource/NotResource with `*` and `?`,
 * Principal `*` and ARNs, policy variables such as `${aws:username}`, and
 * the condition operators the project's template uses (with `IfExists`).
 * An operator it does not know throws, so a policy can never pass a test
 * through an unevaluated condition.
 */

export interface PolicyDocument {
  Version?: string
  Statement: Statement[] | Statement
}

export interface Statement {
  Sid?: string
  Effect: 'Allow' | 'Deny'
  Principal?: unknown
  Action?: string | string[]
  NotAction?: string | string[]
  Resource?: string | string[]
  NotResource?: string | string[]
  Condition?: Record<string, Record<string, string | string[]>>
}

export interface Request {
  /** e.g. `s3:GetObject`. */
  action: string
  /** ARN of the resource, e.g. `arn:aws:s3:::bucket/key`. */
  resource: string
  /** ARN of the calling principal (for resource policies and `aws:PrincipalArn`). */
  principalArn?: string
  /** Request context keys; `aws:SecureTransport` defaults to `true`. */
  context?: Record<string, string | undefined>
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny'

export interface Verdict {
  decision: Decision
  /** Sids of the statements that matched (for messages). */
  matched: string[]
}

export function evaluate(identity: PolicyDocument[], resourcePolicies: PolicyDocument[], req: Request): Verdict {
  const context: Record<string, string | undefined> = { 'aws:SecureTransport': 'true', ...req.context }
  if (req.principalArn !== undefined) context['aws:PrincipalArn'] ??= req.principalArn
  const matchedAllow: string[] = []
  const matchedDeny: string[] = []
  const consider = (doc: PolicyDocument, isResourcePolicy: boolean) => {
    const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]
    statements.forEach((st, i) => {
      if (isResourcePolicy && !principalMatches(st.Principal, req.principalArn)) return
      if (!actionMatches(st, req.action)) return
      if (!resourceMatches(st, req.resource, context, isResourcePolicy)) return
      if (!conditionsMatch(st.Condition, context)) return
      ;(st.Effect === 'Deny' ? matchedDeny : matchedAllow).push(st.Sid ?? `#${i}`)
    })
  }
  for (const doc of identity) consider(doc, false)
  for (const doc of resourcePolicies) consider(doc, true)
  if (matchedDeny.length > 0) return { decision: 'explicit-deny', matched: matchedDeny }
  if (matchedAllow.length > 0) return { decision: 'allow', matched: matchedAllow }
  return { decision: 'implicit-deny', matched: [] }
}

function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}

/** IAM wildcard match: `*` any run of characters, `?` one character. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const re = new RegExp('^' + pattern.split('').map((c) => c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('') + '$', ignoreCase ? 'is' : 's')
  return re.test(value)
}

function actionMatches(st: Statement, action: string): boolean {
  if (st.Action !== undefined) return list(st.Action).some((p) => wildcardMatch(p, action, true))
  if (st.NotAction !== undefined) return !list(st.NotAction).some((p) => wildcardMatch(p, action, true))
  throw new Error(`statement ${st.Sid ?? ''} has neither Action nor NotAction`)
}

/**
 * A resource policy's statement without Resource (a role's trust policy)
 * is about the resource it is attached to; an identity policy's must name one.
 */
function resourceMatches(st: Statement, resource: string, context: Record<string, string | undefined>, isResourcePolicy: boolean): boolean {
  if (isResourcePolicy && st.Resource === undefined && st.NotResource === undefined) return true
  const expand = (p: string) => substitute(p, context)
  if (st.Resource !== undefined) return list(st.Resource).some((p) => { const e = expand(p); return e !== null && wildcardMatch(e, resource) })
  if (st.NotResource !== undefined) return !list(st.NotResource).some((p) => { const e = expand(p); return e !== null && wildcardMatch(e, resource) })
  throw new Error(`statement ${st.Sid ?? ''} has neither Resource nor NotResource`)
}

function principalMatches(principal: unknown, arn: string | undefined): boolean {
  if (principal === '*') return true
  if (principal && typeof principal === 'object') {
    const aws = (principal as { AWS?: string | string[] }).AWS
    return list(aws).some((p) => p === '*' || p === arn)
  }
  return false
}

/** Replaces policy variables; null when a variable has no value (the pattern then matches nothing). */
function substitute(text: string, context: Record<string, string | undefined>): string | null {
  let missing = false
  const out = text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    if (name === '*' || name === '?' || name === '$') return name
    const value = context[name]
    if (value === undefined) missing = true
    return value ?? ''
  })
  return missing ? null : out
}

function conditionsMatch(cond: Statement['Condition'], context: Record<string, string | undefined>): boolean {
  if (!cond) return true
  return Object.entries(cond).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => operatorMatches(operator, context[key], list(expected), context)))
}

function operatorMatches(operator: string, actual: string | undefined, expected: string[], context: Record<string, string | undefined>): boolean {
  if (operator === 'Null') {
    const wantsAbsent = expected[0] === 'true'
    return (actual === undefined) === wantsAbsent
  }
  const ifExists = operator.endsWith('IfExists')
  const base = ifExists ? operator.slice(0, -'IfExists'.length) : operator
  const negated = /^(StringNot|ArnNot|NumericNot)/.test(base)
  if (actual === undefined) return ifExists || negated
  const values = expected.map((e) => substitute(e, context)).filter((e): e is string => e !== null)
  const any = (f: (e: string) => boolean) => values.some(f)
  switch (base) {
    case 'StringEquals': return any((e) => e === actual)
    case 'StringNotEquals': return !any((e) => e === actual)
    case 'StringEqualsIgnoreCase': return any((e) => e.toLowerCase() === actual.toLowerCase())
    case 'StringNotEqualsIgnoreCase': return !any((e) => e.toLowerCase() === actual.toLowerCase())
    case 'StringLike': return any((e) => wildcardMatch(e, actual))
    case 'StringNotLike': return !any((e) => wildcardMatch(e, actual))
    case 'ArnEquals': case 'ArnLike': return any((e) => wildcardMatch(e, actual))
    case 'ArnNotEquals': case 'ArnNotLike': return !any((e) => wildcardMatch(e, actual))
    case 'Bool': return any((e) => e.toLowerCase() === actual.toLowerCase())
    case 'NumericEquals': return any((e) => Number(e) === Number(actual))
    case 'NumericLessThan': return any((e) => Number(actual) < Number(e))
    case 'NumericGreaterThanEquals': return any((e) => Number(actual) >= Number(e))
    default: throw new Error(`condition operator ${operator} is not known to the evaluator`)
  }
}
