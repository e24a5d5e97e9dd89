import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CloudFormationClient, DescribeStacksCommand, ListExportsCommand, ListStacksCommand } from '@aws-sdk/client-cloudformation'
import { GetRoleCommand, IAMClient, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam'
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { main } from '../../src/commands/s3-sysbackup.js'
import { runBin } from '../helpers/bin.js'
import { testIO } from '../helpers/io.js'
import { startMoto } from '../helpers/moto.js'
import { writeMotoTemplate } from '../helpers/moto-template.js'
import { startScriptedCfn } from '../helpers/scripted-cfn.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const moto = await startMoto()
t.teardown(() => moto.stop())
const home = t.testdir({})
// HOME without ~/.aws, so nothing of the machine's own AWS setup leaks in.
const env = { ...moto.env, HOME: home, AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none') }
const clientConfig = { endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }
const cfn = new CloudFormationClient(clientConfig)
const iam = new IAMClient(clientConfig)
const s3 = new S3Client(clientConfig)
const fixtures = t.testdir({
  'bad.yaml': 'Resources:\n  Bucket: [unclosed\n',
  'no-resources.yaml': 'Outputs: {}\n',
  'no-params.yaml': 'Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n',
})
const template = writeMotoTemplate(fixtures)

function create(args: string[]) {
  return runBin('s3-sysbackup', ['create-resources', '--poll-interval', '0.05', ...args], { env })
}

async function exports(): Promise<Record<string, string>> {
  const out = await cfn.send(new ListExportsCommand({}))
  return Object.fromEntries((out.Exports ?? []).map((e) => [e.Name!, e.Value!]))
}

function outputsOf(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]))
}

t.beforeEach(() => moto.reset())

t.test('creates the stack, shows its events, exports the bucket and prints the outputs', async (t) => {
  const run = await create(['--template', template])
  t.equal(run.status, 0, run.stderr)
  const lines = run.stderr.trim().split('\n')
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}CREATE_IN_PROGRESS {2}AWS::CloudFormation::Stack {2}s3-sysbackup {2}User Initiated$/, 'first event')
  t.match(lines[1], /CREATE_COMPLETE {2}AWS::CloudFormation::Stack {2}s3-sysbackup$/, 'last event')
  const outputs = outputsOf(run.stdout)
  t.match(lines[2], `s3-sysbackup: CREATE_COMPLETE; bucket ${outputs.BucketName} exported as backup-bucket`)
  t.equal(lines.length, 3)
  t.match(outputs.BucketName, /^s3-sysbackup-bucket-/, 'CloudFormation generated the bucket name')
  t.same(await exports(), { 'backup-bucket': outputs.BucketName }, 'bucket name exported')
  await s3.send(new HeadBucketCommand({ Bucket: outputs.BucketName }))
  t.equal(outputs.RetentionDays, '14')
  t.equal(outputs.LockMode, 'GOVERNANCE')
  t.equal(outputs.BackupGroupName, 'sysbackup-backup')
  const roleName = outputs.BackupRoleArn!.split('/').pop()!
  const role = await iam.send(new GetRoleCommand({ RoleName: roleName }))
  t.match(decodeURIComponent(role.Role!.AssumeRolePolicyDocument!), /arn:aws:iam::123456789012:root/, 'role trusts the account')
  const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }))
  t.equal(attached.AttachedPolicies?.length, 1, 'backup policy attached to the backup role')
})

t.test('parameters: bucket name, retention, lock mode, export name, package name', async (t) => {
  const run = await create(['--template', template, '--package-name', 'second-pkg', '--bucket-name', 'my-backups',
    '--retention-days', '30', '--lock-mode', 'compliance', '--export-name', 'second-bucket'])
  t.equal(run.status, 0, run.stderr)
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName: 'second-pkg' }))).Stacks![0]!
  t.equal(stack.StackStatus, 'CREATE_COMPLETE')
  t.same(Object.fromEntries(stack.Parameters!.map((p) => [p.ParameterKey, p.ParameterValue])),
    { BucketName: 'my-backups', RetentionDays: '30', LockMode: 'COMPLIANCE', ExportName: 'second-bucket' })
  t.same(await exports(), { 'second-bucket': 'my-backups' })
  t.match(run.stderr, 'second-pkg: CREATE_COMPLETE; bucket my-backups exported as second-bucket')
})

t.test('the shipped template deploys as far as moto goes', async (t) => {
  // moto skips AWS::IAM::Group (so the group outputs are missing) and ignores
  // the bucket's lock settings; everything else resolves and is created.
  const run = await create([])
  t.equal(run.status, 0, run.stderr)
  const outputs = outputsOf(run.stdout)
  t.ok(outputs.BucketName && outputs.BackupRoleArn && outputs.RestoreRoleArn && outputs.AuditRoleArn)
  t.same(Object.keys(await exports()), ['backup-bucket'])
})

t.test('creating a package that exists fails with a hint', async (t) => {
  t.equal((await create(['--template', template])).status, 0)
  const again = await create(['--template', template])
  t.equal(again.status, 3)
  t.equal(again.stderr, 's3-sysbackup create-resources: package s3-sysbackup already exists (stack s3-sysbackup); change it with s3-sysbackup update-resources\n')
  t.equal(again.stdout, '')
})

t.test('a failure AWS reports at once is one clear line, exit 3', async (t) => {
  const bad = writeMotoTemplate(fixtures, { literalBucketName: 'nd' }, 'bad-bucket.json')
  const run = await create(['--template', bad])
  t.equal(run.status, 3)
  t.equal(run.stderr, 's3-sysbackup create-resources: CreateStack s3-sysbackup: InvalidBucketName: The specified bucket is not valid.\n')
  t.equal(run.stdout, '')
})

t.test('--dry-run prints every request and makes none', async (t) => {
  const run = await create(['--template', template, '--retention-days', '30', '--region', 'eu-west-3', '--dry-run'])
  t.equal(run.status, 0, run.stderr)
  t.equal(run.stdout,
    `aws cloudformation CreateStack StackName=s3-sysbackup Region=eu-west-3 TemplateBody=<${template}> Parameters=[RetentionDays=30] Capabilities=[CAPABILITY_IAM,CAPABILITY_NAMED_IAM]\n` +
    'aws cloudformation DescribeStackEvents StackName=s3-sysbackup Repeat="every 0.05s until the stack settles"\n' +
    'aws cloudformation DescribeStacks StackName=s3-sysbackup\n')
  t.equal(run.stderr, '')
  const stacks = await cfn.send(new ListStacksCommand({}))
  t.same(stacks.StackSummaries ?? [], [], 'no stack created')
})

t.test('bad options and templates: one line, exit 2, nothing created', async (t) => {
  const cases: Array<[string[], string]> = [
    [['--lock-mode', 'LEGAL'], '--lock-mode: "LEGAL" is not one of GOVERNANCE, COMPLIANCE'],
    [['--bucket-name', 'Not_A_Bucket'], '--bucket-name: "Not_A_Bucket" is not a valid S3 bucket name'],
    [['--package-name', '1st'], '--package-name: "1st" is not a valid stack name (a letter, then letters, digits and hyphens, at most 128)'],
    [['--retention-days', '0'], '--retention-days: 0 is not a whole number of days, 1 or more'],
    [['--retention-days', '1.5'], '--retention-days: 1.5 is not a whole number of days, 1 or more'],
    [['--retention-days', 'many'], 'option --retention-days: "many" is not a number'],
    [['--poll-interval', '0'], '--poll-interval: 0 is not a positive number of seconds'],
    [['--template', join(fixtures, 'missing.yaml')], `${join(fixtures, 'missing.yaml')}: cannot read template: ENOENT`],
    [['--template', join(fixtures, 'bad.yaml')], `${join(fixtures, 'bad.yaml')}: not a valid template: `],
    [['--template', join(fixtures, 'no-resources.yaml')], `${join(fixtures, 'no-resources.yaml')}: not a CloudFormation template (no Resources section)`],
    [['--template', join(fixtures, 'no-params.yaml'), '--retention-days', '7'], `--retention-days: template ${join(fixtures, 'no-params.yaml')} has no parameter RetentionDays`],
    [['extra'], 'unexpected argument "extra"'],
    [['--colour'], 'unknown option --colour (see --help)'],
  ]
  // In-process: these fail before any AWS request.
  for (const [args, message] of cases) {
    const io = testIO('', env)
    const status = await main(['create-resources', ...args], io)
    t.equal(status, 2, `${args.join(' ')}: exit 2`)
    t.match(io.err(), `s3-sysbackup create-resources: ${message}`, args.join(' '))
    t.equal(io.err().trim().split('\n').length, 1, `${args.join(' ')}: one line`)
    t.equal(io.out(), '')
  }
  const withoutRegion: NodeJS.ProcessEnv = { ...env }
  delete withoutRegion.AWS_REGION
  const noRegion = await runBin('s3-sysbackup', ['create-resources', '--template', template], { env: withoutRegion })
  t.equal(noRegion.status, 2)
  t.equal(noRegion.stderr, 's3-sysbackup create-resources: no AWS region: give --region or set AWS_REGION\n')
  t.same((await cfn.send(new ListStacksCommand({}))).StackSummaries ?? [], [], 'no stack created')
})

t.test('--help lists every option', async (t) => {
  const run = await runBin('s3-sysbackup', ['create-resources', '--help'])
  t.equal(run.status, 0)
  for (const opt of ['--package-name', '--region', '--template', '--bucket-name', '--retention-days', '--lock-mode', '--export-name', '--poll-interval', '--dry-run']) {
    t.match(run.stdout, opt)
  }
  t.match(run.stdout, 'See s3-sysbackup-create-resources(1).')
})

// moto finishes every stack at once and never fails one; these play a
// CloudFormation that takes several polls, then fails or succeeds.
t.test('a stack that fails: progress as it comes, then the failing resource and reason, exit 3', async (t) => {
  const cfnScript = await startScriptedCfn({
    stackName: 's3-sysbackup',
    statuses: ['CREATE_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_COMPLETE'],
    statusReason: 'The following resource(s) failed to create: [Bucket, BackupRole]. Rollback requested by user.',
    pageSize: 2,
    events: [
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'CREATE_IN_PROGRESS', reason: 'User Initiated', visibleAfter: 0 },
      { logicalId: 'Bucket', type: 'AWS::S3::Bucket', status: 'CREATE_IN_PROGRESS', visibleAfter: 1 },
      { logicalId: 'BackupRole', type: 'AWS::IAM::Role', status: 'CREATE_IN_PROGRESS', visibleAfter: 1 },
      { logicalId: 'Bucket', type: 'AWS::S3::Bucket', status: 'CREATE_FAILED', reason: 'my-backups already exists', visibleAfter: 2 },
      { logicalId: 'BackupRole', type: 'AWS::IAM::Role', status: 'CREATE_FAILED', reason: 'Resource creation cancelled', visibleAfter: 2 },
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'ROLLBACK_IN_PROGRESS', reason: 'The following resource(s) failed to create: [Bucket, BackupRole].', visibleAfter: 3 },
      { logicalId: 'BackupRole', type: 'AWS::IAM::Role', status: 'DELETE_COMPLETE', visibleAfter: 4 },
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'ROLLBACK_COMPLETE', visibleAfter: 4 },
    ],
  })
  t.teardown(() => cfnScript.close())
  const run = await runBin('s3-sysbackup', ['create-resources', '--poll-interval', '0.05', '--bucket-name', 'my-backups', '--template', template],
    { env: { ...env, ...cfnScript.env } })
  t.equal(run.status, 3)
  t.equal(run.stdout, '')
  const shown = run.stderr.trim().split('\n').map((l) => l.replace(/^\S+Z {2}/, ''))
  t.same(shown, [
    'CREATE_IN_PROGRESS  AWS::CloudFormation::Stack  s3-sysbackup  User Initiated',
    'CREATE_IN_PROGRESS  AWS::S3::Bucket  Bucket',
    'CREATE_IN_PROGRESS  AWS::IAM::Role  BackupRole',
    'CREATE_FAILED  AWS::S3::Bucket  Bucket  my-backups already exists',
    'CREATE_FAILED  AWS::IAM::Role  BackupRole  Resource creation cancelled',
    'ROLLBACK_IN_PROGRESS  AWS::CloudFormation::Stack  s3-sysbackup  The following resource(s) failed to create: [Bucket, BackupRole].',
    'DELETE_COMPLETE  AWS::IAM::Role  BackupRole',
    'ROLLBACK_COMPLETE  AWS::CloudFormation::Stack  s3-sysbackup',
    'failed: Bucket (AWS::S3::Bucket) CREATE_FAILED: my-backups already exists',
    'failed: BackupRole (AWS::IAM::Role) CREATE_FAILED: Resource creation cancelled',
    's3-sysbackup create-resources: stack s3-sysbackup ended ROLLBACK_COMPLETE: Bucket (AWS::S3::Bucket) CREATE_FAILED: my-backups already exists',
  ], 'every event once, in order, then the failures and the cause')
  t.equal(cfnScript.requests.filter((r) => r.Action === 'DescribeStacks').length, 4, 'polled until the stack settled')
  const create = cfnScript.requests.find((r) => r.Action === 'CreateStack')!
  t.equal(create['Parameters.member.1.ParameterKey'], 'BucketName')
  t.equal(create['Parameters.member.1.ParameterValue'], 'my-backups')
  t.equal(create['Capabilities.member.1'], 'CAPABILITY_IAM')
})

t.test('a slow stack that succeeds: waits, shows each event once, prints the outputs', async (t) => {
  const cfnScript = await startScriptedCfn({
    stackName: 's3-sysbackup',
    statuses: ['CREATE_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'CREATE_COMPLETE'],
    pageSize: 1,
    events: [
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'CREATE_IN_PROGRESS', reason: 'User Initiated', visibleAfter: 0 },
      { logicalId: 'Bucket', type: 'AWS::S3::Bucket', status: 'CREATE_IN_PROGRESS', reason: 'Resource creation Initiated', visibleAfter: 1 },
      { logicalId: 'Bucket', type: 'AWS::S3::Bucket', status: 'CREATE_COMPLETE', visibleAfter: 3 },
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'CREATE_COMPLETE', visibleAfter: 4 },
    ],
    outputs: [{ key: 'BucketName', value: 'generated-bucket', exportName: 'backup-bucket' }, { key: 'LockMode', value: 'GOVERNANCE' }],
  })
  t.teardown(() => cfnScript.close())
  const run = await runBin('s3-sysbackup', ['create-resources', '--poll-interval', '0.05', '--template', template], { env: { ...env, ...cfnScript.env } })
  t.equal(run.status, 0, run.stderr)
  t.equal(run.stdout, 'BucketName=generated-bucket\nLockMode=GOVERNANCE\n')
  const shown = run.stderr.trim().split('\n').map((l) => l.replace(/^\S+Z {2}/, ''))
  t.same(shown, [
    'CREATE_IN_PROGRESS  AWS::CloudFormation::Stack  s3-sysbackup  User Initiated',
    'CREATE_IN_PROGRESS  AWS::S3::Bucket  Bucket  Resource creation Initiated',
    'CREATE_COMPLETE  AWS::S3::Bucket  Bucket',
    'CREATE_COMPLETE  AWS::CloudFormation::Stack  s3-sysbackup',
    's3-sysbackup: CREATE_COMPLETE; bucket generated-bucket exported as backup-bucket',
  ])
})

t.test('a template of your own: sent as is, with only the parameters it declares', async (t) => {
  const yaml = join(fixtures, 'plain.yaml')
  writeFileSync(yaml, 'Parameters:\n  RetentionDays: {Type: Number, Default: 3}\nResources:\n  Bucket: {Type: "AWS::S3::Bucket"}\nOutputs:\n  BucketName:\n    Value: !Ref Bucket\n    Export: {Name: plain-bucket}\n')
  const run = await create(['--template', yaml, '--retention-days', '9'])
  t.equal(run.status, 0, run.stderr)
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName: 's3-sysbackup' }))).Stacks![0]!
  t.same(stack.Parameters, [{ ParameterKey: 'RetentionDays', ParameterValue: '9' }])
  t.same(Object.keys(await exports()), ['plain-bucket'])
})
