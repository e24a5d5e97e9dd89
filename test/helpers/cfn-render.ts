/**
 * Renders a parsed CloudFormation template the way CloudFormation would
 * resolve it for one stack: parameters (with defaults), conditions, `Ref`,
 * `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If`/`Equals`/`Not`/`And`/`Or`
 * and `AWS::NoValue`. Physical names are made up deterministically (as
 * CloudFormation would generate them). Anything it does not know throws,
 * so a test never passes on a half-rendered template.
 */

export interface RenderOptions {
  stackName?: string
  accountId?: string
  region?: string
  parameters?: Record<string, string>
}

export interface RenderedResource {
  Type: string
  Properties: Record<string, unknown>
  [attribute: string]: unknown
}

export interface RenderedTemplate {
  resources: Record<string, RenderedResource>
  outputs: Record<string, { Value: unknown, ExportName?: unknown }>
  /** Physical id (what `Ref` gives) of each resource. */
  physicalIds: Record<string, string>
}

const NO_VALUE = Symbol('AWS::NoValue')

type Json = unknown

export function renderTemplate(template: Json, options: RenderOptions = {}): RenderedTemplate {
  const tpl = template as {
    Parameters?: Record<string, { Default?: unknown, Type: string, AllowedValues?: string[] }>
    Conditions?: Record<string, Json>
    Resources: Record<string, { Type: string, Properties?: Record<string, Json>, Condition?: string, [k: string]: unknown }>
    Outputs?: Record<string, { Value: Json, Export?: { Name: Json }, Condition?: string }>
  }
  const stackName = options.stackName ?? 's3-sysbackup'
  const accountId = options.accountId ?? '123456789012'
  const region = options.region ?? 'eu-west-1'
  const params: Record<string, string> = {}
  for (const [name, p] of Object.entries(tpl.Parameters ?? {})) {
    const given = options.parameters?.[name]
    if (given !== undefined) {
      if (p.AllowedValues && !p.AllowedValues.includes(given)) throw new Error(`parameter ${name}: ${given} not allowed`)
      params[name] = given
    } else if (p.Default !== undefined) {
      params[name] = String(p.Default)
    } else {
      throw new Error(`parameter ${name} has no value`)
    }
  }
  for (const name of Object.keys(options.parameters ?? {})) {
    if (!(name in params)) throw new Error(`parameter ${name} is not declared by the template`)
  }
  const pseudo: Record<string, string> = {
    'AWS::AccountId': accountId,
    'AWS::Region': region,
    'AWS::Partition': 'aws',
    'AWS::StackName': stackName,
    'AWS::StackId': `arn:aws:cloudformation:${region}:${accountId}:stack/${stackName}/0000`,
    'AWS::URLSuffix': 'amazonaws.com',
  }

  const conditionCache = new Map<string, boolean>()
  const physicalIds: Record<string, string> = {}

  function condition(name: string): boolean {
    const known = conditionCache.get(name)
    if (known !== undefined) return known
    const expr = tpl.Conditions?.[name]
    if (expr === undefined) throw new Error(`unknown condition ${name}`)
    const value = resolve(expr)
    if (typeof value !== 'boolean') throw new Error(`condition ${name} is not boolean`)
    conditionCache.set(name, value)
    return value
  }

  function ref(name: string): unknown {
    if (name === 'AWS::NoValue') return NO_VALUE
    if (name in pseudo) return pseudo[name]
    if (name in params) return params[name]
    const res = tpl.Resources[name]
    if (!res) throw new Error(`Ref to unknown ${name}`)
    return physicalId(name)
  }

  function physicalId(name: string): string {
    const known = physicalIds[name]
    if (known !== undefined) return known
    const res = tpl.Resources[name]!
    const suffix = name.toUpperCase().slice(0, 6) + 'X1Y2Z3'
    let id: string
    switch (res.Type) {
      case 'AWS::S3::Bucket': {
        const given = res.Properties?.BucketName === undefined ? NO_VALUE : resolve(res.Properties.BucketName)
        id = given === NO_VALUE ? `${stackName}-${name.toLowerCase()}-${suffix.toLowerCase()}` : String(given)
        break
      }
      case 'AWS::IAM::Role':
      case 'AWS::IAM::Group':
      case 'AWS::IAM::User':
        id = `${stackName}-${name}-${suffix}`
        break
      case 'AWS::IAM::ManagedPolicy':
        id = `arn:aws:iam::${accountId}:policy/${stackName}-${name}-${suffix}`
        break
      default:
        id = `${stackName}-${name}-${suffix}`
    }
    physicalIds[name] = id
    return id
  }

  function getAtt(name: string, attribute: string): string {
    const res = tpl.Resources[name]
    if (!res) throw new Error(`GetAtt of unknown ${name}`)
    const id = physicalId(name)
    switch (`${res.Type}.${attribute}`) {
      case 'AWS::S3::Bucket.Arn': return `arn:aws:s3:::${id}`
      case 'AWS::S3::Bucket.DomainName': return `${id}.s3.amazonaws.com`
      case 'AWS::IAM::Role.Arn': return `arn:aws:iam::${accountId}:role/${id}`
      case 'AWS::IAM::Role.RoleId': return `AROA${name.toUpperCase()}`
      case 'AWS::IAM::Group.Arn': return `arn:aws:iam::${accountId}:group/${id}`
      case 'AWS::IAM::User.Arn': return `arn:aws:iam::${accountId}:user/${id}`
      default: throw new Error(`GetAtt ${res.Type}.${attribute} is not known to the renderer`)
    }
  }

  function sub(text: string, vars: Record<string, unknown>): string {
    return text.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
      if (inner.startsWith('!')) return '${' + inner.slice(1) + '}'
      if (inner in vars) return String(vars[inner])
      const dot = inner.indexOf('.')
      if (dot > 0 && !inner.startsWith('AWS::')) return getAtt(inner.slice(0, dot), inner.slice(dot + 1))
      const value = ref(inner)
      if (value === NO_VALUE) throw new Error(`Sub of AWS::NoValue in ${whole}`)
      return String(value)
    })
  }

  function resolve(value: Json): unknown {
    if (Array.isArray(value)) return value.map(resolve).filter((v) => v !== NO_VALUE)
    if (value === null || typeof value !== 'object') return value
    const entries = Object.entries(value as Record<string, Json>)
    if (entries.length === 1) {
      const [key, arg] = entries[0]!
      switch (key) {
        case 'Ref': return ref(arg as string)
        case 'Condition': return condition(arg as string)
        case 'Fn::GetAtt': {
          const [name, attr] = Array.isArray(arg) ? arg as string[] : String(arg).split(/\.(.*)/)
          return getAtt(name!, attr!)
        }
        case 'Fn::Sub': {
          if (typeof arg === 'string') return sub(arg, {})
          const [text, vars] = arg as [string, Record<string, Json>]
          return sub(text, Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolve(v)])))
        }
        case 'Fn::Join': {
          const [sep, items] = arg as [string, Json]
          return (resolve(items) as unknown[]).map(String).join(sep)
        }
        case 'Fn::If': {
          const [cond, yes, no] = arg as [string, Json, Json]
          return condition(cond) ? resolve(yes) : resolve(no)
        }
        case 'Fn::Equals': {
          const [a, b] = (arg as Json[]).map(resolve)
          return String(a) === String(b)
        }
        case 'Fn::Not': return !(resolve((arg as Json[])[0]) as boolean)
        case 'Fn::And': return (arg as Json[]).every((c) => resolve(c) === true)
        case 'Fn::Or': return (arg as Json[]).some((c) => resolve(c) === true)
        default:
          if (key.startsWith('Fn::')) throw new Error(`${key} is not known to the renderer`)
      }
    }
    const out: Record<string, unknown> = {}
    for (const [k, v] of entries) {
      const r = resolve(v)
      if (r !== NO_VALUE) out[k] = r
    }
    return out
  }

  const resources: Record<string, RenderedResource> = {}
  for (const [name, res] of Object.entries(tpl.Resources)) {
    if (res.Condition !== undefined && !condition(res.Condition)) continue
    resources[name] = { ...res, Type: res.Type, Properties: resolve(res.Properties ?? {}) as Record<string, unknown> }
  }
  const outputs: RenderedTemplate['outputs'] = {}
  for (const [name, out] of Object.entries(tpl.Outputs ?? {})) {
    if (out.Condition !== undefined && !condition(out.Condition)) continue
    outputs[name] = { Value: resolve(out.Value), ...(out.Export ? { ExportName: resolve(out.Export.Name) } : {}) }
  }
  for (const name of Object.keys(resources)) physicalId(name)
  return { resources, outputs, physicalIds }
}
