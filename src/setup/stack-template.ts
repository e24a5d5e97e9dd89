import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Parameter } from '@aws-sdk/client-cloudformation'
import { UsageError } from '../cli/errors.js'
import { notOneOf } from '../util/choice.js'
import { parseTemplate } from './cfn-yaml.js'

/** The template shipped in the package (package.json `files` includes templates/). */
export const SHIPPED_TEMPLATE = fileURLToPath(new URL('../../templates/s3-sysbackup.yaml', import.meta.url))

/** CloudFormation's limit on an inline TemplateBody, in bytes. */
const MAX_TEMPLATE_BODY = 51_200

export interface TemplateParameter {
  type: string
  default?: string
  allowedValues?: string[]
}

/** A template read and checked: its text (sent as is) and what it declares. */
export interface StackTemplate {
  path: string
  body: string
  parameters: Map<string, TemplateParameter>
}

/**
 * Reads and parses a template (YAML or JSON). Throws UsageError naming the
 * file when it cannot be read, does not parse, has no Resources, or is too
 * large to send inline.
 */
export function loadTemplate(path: string = SHIPPED_TEMPLATE): StackTemplate {
  let body: string
  try {
    body = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`${path}: cannot read template: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (Buffer.byteLength(body) > MAX_TEMPLATE_BODY) {
    throw new UsageError(`${path}: template is larger than CloudFormation's ${MAX_TEMPLATE_BODY}-byte limit for an inline template`)
  }
  let parsed: unknown
  try {
    parsed = parseTemplate(body)
  } catch (err) {
    throw new UsageError(`${path}: not a valid template: ${(err as Error).message.split('\n')[0]}`)
  }
  const doc = parsed as { Resources?: unknown, Parameters?: Record<string, Record<string, unknown>> } | null
  if (doc === null || typeof doc !== 'object' || typeof doc.Resources !== 'object' || doc.Resources === null) {
    throw new UsageError(`${path}: not a CloudFormation template (no Resources section)`)
  }
  const parameters = new Map<string, TemplateParameter>()
  for (const [name, spec] of Object.entries(doc.Parameters ?? {})) {
    const p: TemplateParameter = { type: String(spec.Type ?? 'String') }
    if (spec.Default !== undefined) p.default = String(spec.Default)
    if (Array.isArray(spec.AllowedValues)) p.allowedValues = spec.AllowedValues.map(String)
    parameters.set(name, p)
  }
  return { path, body, parameters }
}

/** Stack settings from the command line; each maps to one template parameter. */
export interface StackSettings {
  bucketName?: string
  retentionDays?: number
  lockMode?: string
  exportName?: string
}

/** Which template parameter each setting sets, and the option that gives it. */
export const PARAMETER_FOR: Record<keyof StackSettings, { parameter: string, option: string }> = {
  bucketName: { parameter: 'BucketName', option: '--bucket-name' },
  retentionDays: { parameter: 'RetentionDays', option: '--retention-days' },
  lockMode: { parameter: 'LockMode', option: '--lock-mode' },
  exportName: { parameter: 'ExportName', option: '--export-name' },
}

/**
 * The Parameters of a CreateStack or UpdateStack request: one per setting
 * given (an error when the template does not declare it). For an update,
 * `previous` holds the stack's current parameter values: those not given
 * keep their value, so that updating the template never silently resets,
 * say, the bucket name to "generate one" (which would replace the bucket).
 * The value is sent explicitly (moto's UsePreviousValue only knows
 * parameters passed at creation); a NoEcho value (shown as `****`), or one
 * unknown (dry run: null), is kept with UsePreviousValue.
 */
export function stackParameters(template: StackTemplate, settings: StackSettings, previous?: Map<string, string | null>): Parameter[] {
  const out: Parameter[] = []
  const given = new Set<string>()
  for (const key of Object.keys(PARAMETER_FOR) as Array<keyof StackSettings>) {
    const value = settings[key]
    if (value === undefined) continue
    const { parameter, option } = PARAMETER_FOR[key]
    const declared = template.parameters.get(parameter)
    if (!declared) throw new UsageError(`${option}: template ${template.path} has no parameter ${parameter}`)
    const text = String(value)
    if (declared.allowedValues && !declared.allowedValues.includes(text)) {
      throw new UsageError(`${option}: ${notOneOf(text, declared.allowedValues)}`)
    }
    out.push({ ParameterKey: parameter, ParameterValue: text })
    given.add(parameter)
  }
  if (previous) {
    for (const name of template.parameters.keys()) {
      if (given.has(name) || !previous.has(name)) continue
      const value = previous.get(name)
      out.push(value === null || value === undefined || value === '****'
        ? { ParameterKey: name, UsePreviousValue: true }
        : { ParameterKey: name, ParameterValue: value })
    }
  }
  return out
}
