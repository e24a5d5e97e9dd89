import t from 'tap'
import { join } from 'node:path'
import { parseTemplate } from '../../src/setup/cfn-yaml.js'
import { loadTemplate, stackParameters } from '../../src/setup/stack-template.js'

t.test('short-form tags become CloudFormation long form', async (t) => {
  const doc = parseTemplate([
    'a: !Ref Bucket',
    'b: !GetAtt Bucket.Arn',
    'c: !GetAtt [Role, Arn]',
    'd: !Sub "${Bucket.Arn}/*"',
    'e: !Sub ["${x}", {x: !Ref AWS::Region}]',
    'f: !If [Cond, !Ref AWS::NoValue, !Join ["", [a, !Ref B]]]',
    'g: !Equals [!Ref P, ""]',
    'h: !Condition Cond',
    'i: !Select [0, !GetAZs ""]',
    'j: !ImportValue shared',
  ].join('\n'))
  t.same(doc, {
    a: { Ref: 'Bucket' },
    b: { 'Fn::GetAtt': ['Bucket', 'Arn'] },
    c: { 'Fn::GetAtt': ['Role', 'Arn'] },
    d: { 'Fn::Sub': '${Bucket.Arn}/*' },
    e: { 'Fn::Sub': ['${x}', { x: { Ref: 'AWS::Region' } }] },
    f: { 'Fn::If': ['Cond', { Ref: 'AWS::NoValue' }, { 'Fn::Join': ['', ['a', { Ref: 'B' }]] }] },
    g: { 'Fn::Equals': [{ Ref: 'P' }, ''] },
    h: { Condition: 'Cond' },
    i: { 'Fn::Select': [0, { 'Fn::GetAZs': '' }] },
    j: { 'Fn::ImportValue': 'shared' },
  })
  t.same(parseTemplate('{"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}'), { Resources: { B: { Type: 'AWS::S3::Bucket' } } }, 'JSON too')
  t.throws(() => parseTemplate('a: 1\na: 2\n'), /unique/i, 'duplicate keys are an error, as in CloudFormation')
})

t.test('parameters: only those given, checked against the template; an update keeps the rest', async (t) => {
  const dir = t.testdir({
    'tpl.yaml': 'Parameters:\n  BucketName: {Type: String, Default: ""}\n  RetentionDays: {Type: Number, Default: 14}\n' +
      '  LockMode: {Type: String, Default: GOVERNANCE, AllowedValues: [GOVERNANCE, COMPLIANCE]}\n  Secret: {Type: String, NoEcho: true}\nResources:\n  B: {Type: "AWS::S3::Bucket"}\n',
  })
  const tpl = loadTemplate(join(dir, 'tpl.yaml'))
  t.same([...tpl.parameters.keys()], ['BucketName', 'RetentionDays', 'LockMode', 'Secret'])
  t.same(stackParameters(tpl, { retentionDays: 7 }), [{ ParameterKey: 'RetentionDays', ParameterValue: '7' }])
  t.throws(() => stackParameters(tpl, { exportName: 'x' }), { message: `--export-name: template ${join(dir, 'tpl.yaml')} has no parameter ExportName` })
  t.throws(() => stackParameters(tpl, { lockMode: 'LEGAL' }), { message: '--lock-mode: "LEGAL" is not one of GOVERNANCE, COMPLIANCE' })
  const previous = new Map<string, string | null>([['BucketName', 'kept'], ['RetentionDays', '14'], ['Secret', '****']])
  t.same(stackParameters(tpl, { retentionDays: 30 }, previous), [
    { ParameterKey: 'RetentionDays', ParameterValue: '30' },
    { ParameterKey: 'BucketName', ParameterValue: 'kept' },
    { ParameterKey: 'Secret', UsePreviousValue: true },
  ], 'given value, previous values, and a NoEcho one kept by reference; LockMode (new to the stack) takes its default')
})
