import { parse, type ScalarTag, type CollectionTag } from 'yaml'

/**
 * CloudFormation's short-form intrinsic tags (`!Ref X`, `!Sub "..."`,
 * `!GetAtt A.B`…), each turned into its long form (`{ Ref: 'X' }`,
 * `{ 'Fn::Sub': '...' }`, `{ 'Fn::GetAtt': ['A', 'B'] }`), as CloudFormation
 * itself reads them.
 */
const FUNCTIONS = [
  'Base64', 'Cidr', 'FindInMap', 'GetAtt', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub',
  'Transform', 'And', 'Equals', 'If', 'Not', 'Or', 'Length', 'ToJsonString',
] as const

function longName(fn: string): string {
  return fn === 'Ref' || fn === 'Condition' ? fn : `Fn::${fn}`
}

function tagsFor(fn: string): Array<ScalarTag | CollectionTag> {
  const key = longName(fn)
  const scalar: ScalarTag = {
    tag: `!${fn}`,
    resolve: (value: string) => {
      // `!GetAtt Resource.Attribute` is the one scalar form CloudFormation splits.
      if (fn === 'GetAtt') {
        const dot = value.indexOf('.')
        return { [key]: dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)] }
      }
      return { [key]: value }
    },
  }
  const collection = (kind: 'seq' | 'map'): CollectionTag => ({
    tag: `!${fn}`,
    collection: kind,
    resolve: (node) => {
      // Wrapped so that JSON conversion (see parseTemplate) gives the long form.
      const wrapped = { toJSON: () => ({ [key]: node.toJSON() }) }
      return wrapped as unknown as typeof node
    },
  })
  return [scalar, collection('seq'), collection('map')]
}

const CFN_TAGS = ['Ref', 'Condition', ...FUNCTIONS].flatMap(tagsFor)

/**
 * Parses a CloudFormation template, YAML (with short-form tags) or JSON,
 * into plain JSON values. Throws an Error naming the line on a syntax error.
 */
export function parseTemplate(text: string): unknown {
  const doc: unknown = parse(text, { customTags: CFN_TAGS, prettyErrors: true, uniqueKeys: true })
  // A template is JSON by definition; the round trip also unwraps the tags.
  return JSON.parse(JSON.stringify(doc ?? null)) as unknown
}
