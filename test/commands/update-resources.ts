import t from 'tap'
import { join } from 'node:path'
import { CloudFormationClient, DescribeStacksCommand, ListExportsCommand } from '@aws-sdk/client-cloudformation'
import { GetBucketTaggingCommand, S3Client } from '@aws-sdk/client-s3'
import { runBin } from '../helpers/bin.js'
import { startMoto } from '../helpers/moto.js'
import { writeMotoTemplate } from '../helpers/moto-template.js'
import { startScriptedCfn } from '../helpers/scripted-cfn.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const moto = await startMoto()
t.teardown(() => moto.stop())
const home = t.testdir({})
const env = { ...moto.env, HOME: home, AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none') }
const clientConfig = { endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }
const cfn = new CloudFormationClient(clientConfig)
const s3 = new S3Client(clientConfig)
const fixtures = t.testdir({})
const template = writeMotoTemplate(fixtures)
const tagged = writeMotoTemplate(fixtures, { bucketTags: { purpose: 'backups' } }, 'tagged.json')

function run(command: 'create-resources' | 'update-resources', args: string[], runEnv: NodeJS.ProcessEnv = env) {
  return runBin('s3-sysbackup', [command, '--poll-interval', '0.05', ...args], { env: runEnv })
}

async function parameters(stack = 's3-sysbackup'): Promise<Record<string, string | undefined>> {
  const found = (await cfn.send(new DescribeStacksCommand({ StackName: stack }))).Stacks![0]!
  return Object.fromEntries(found.Parameters!.map((p) => [p.ParameterKey!, p.ParameterValue]))
}

t.beforeEach(() => moto.reset())

t.test('a changed parameter is applied, the others keep their values', async (t) => {
  t.equal((await run('create-resources', ['--template', template, '--bucket-name', 'kept-bucket', '--retention-days', '20'])).status, 0)
  const update = await run('update-resources', ['--template', template, '--lock-mode', 'COMPLIANCE'])
  t.equal(update.status, 0, update.stderr)
  const shown = update.stderr.trim().split('\n').map((l) => l.replace(/^\S+Z {2}/, ''))
  t.same(shown, [
    'UPDATE_IN_PROGRESS  AWS::CloudFormation::Stack  s3-sysbackup  User Initiated',
    'UPDATE_COMPLETE  AWS::CloudFormation::Stack  s3-sysbackup',
    's3-sysbackup: UPDATE_COMPLETE; bucket kept-bucket exported as backup-bucket',
  ], 'only the events of this update')
  t.same(await parameters(), { BucketName: 'kept-bucket', RetentionDays: '20', LockMode: 'COMPLIANCE', ExportName: 'backup-bucket' },
    'bucket name and retention kept (a reset bucket name would replace the bucket)')
  t.match(update.stdout, /^BucketName=kept-bucket$/m)
  t.match(update.stdout, /^LockMode=COMPLIANCE$/m)
})

t.test('a changed template is applied to the existing stack', async (t) => {
  t.equal((await run('create-resources', ['--template', template, '--bucket-name', 'tag-bucket'])).status, 0)
  const update = await run('update-resources', ['--template', tagged])
  t.equal(update.status, 0, update.stderr)
  const tags = await s3.send(new GetBucketTaggingCommand({ Bucket: 'tag-bucket' }))
  t.same(tags.TagSet, [{ Key: 'purpose', Value: 'backups' }], 'the new template reached the bucket')
  const exports = await cfn.send(new ListExportsCommand({}))
  t.same(exports.Exports?.map((e) => [e.Name, e.Value]), [['backup-bucket', 'tag-bucket']], 'still exported')
})

t.test('a package that does not exist: exit 3 with a hint', async (t) => {
  const update = await run('update-resources', ['--template', template, '--package-name', 'nothing-here'])
  t.equal(update.status, 3)
  t.equal(update.stderr, 's3-sysbackup update-resources: package nothing-here does not exist (no stack nothing-here); create it with s3-sysbackup create-resources\n')
})

t.test('--dry-run prints the requests and makes none', async (t) => {
  t.equal((await run('create-resources', ['--template', template, '--retention-days', '5'])).status, 0)
  const dry = await run('update-resources', ['--template', template, '--retention-days', '9', '--dry-run'])
  t.equal(dry.status, 0, dry.stderr)
  t.equal(dry.stdout,
    'aws cloudformation DescribeStacks StackName=s3-sysbackup Region=us-east-1\n' +
    `aws cloudformation UpdateStack StackName=s3-sysbackup Region=us-east-1 TemplateBody=<${template}> ` +
    'Parameters=[RetentionDays=9,BucketName=(previous value),LockMode=(previous value),ExportName=(previous value)] Capabilities=[CAPABILITY_IAM,CAPABILITY_NAMED_IAM]\n' +
    'aws cloudformation DescribeStackEvents StackName=s3-sysbackup Repeat="every 0.05s until the stack settles"\n' +
    'aws cloudformation DescribeStacks StackName=s3-sysbackup\n')
  t.equal((await parameters()).RetentionDays, '5', 'nothing changed')
})

t.test('nothing to change: says so, prints the outputs, exit 0', async (t) => {
  const cfnScript = await startScriptedCfn({
    stackName: 's3-sysbackup',
    statuses: ['CREATE_COMPLETE'],
    events: [{ logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'CREATE_COMPLETE', visibleAfter: 0 }],
    parameters: { BucketName: '', RetentionDays: '14', LockMode: 'GOVERNANCE', ExportName: 'backup-bucket' },
    outputs: [{ key: 'BucketName', value: 'the-bucket', exportName: 'backup-bucket' }],
    updateError: 'No updates are to be performed.',
  })
  t.teardown(() => cfnScript.close())
  const update = await run('update-resources', ['--template', template], { ...env, ...cfnScript.env })
  t.equal(update.status, 0, update.stderr)
  t.equal(update.stderr, 's3-sysbackup: already up to date, nothing to change\n')
  t.equal(update.stdout, 'BucketName=the-bucket\n')
  const sent = cfnScript.requests.find((r) => r.Action === 'UpdateStack')!
  const params: Record<string, string | undefined> = {}
  for (let i = 1; sent[`Parameters.member.${i}.ParameterKey`]; i++) params[sent[`Parameters.member.${i}.ParameterKey`]!] = sent[`Parameters.member.${i}.ParameterValue`]
  t.same(params, { BucketName: '', RetentionDays: '14', LockMode: 'GOVERNANCE', ExportName: 'backup-bucket' }, 'current values sent back unchanged')
})

t.test('an update that fails and rolls back: the failing resource and reason, exit 3', async (t) => {
  const cfnScript = await startScriptedCfn({
    stackName: 's3-sysbackup',
    statuses: ['CREATE_COMPLETE', 'UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS', 'UPDATE_ROLLBACK_COMPLETE'],
    events: [
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'CREATE_COMPLETE', visibleAfter: 0 },
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'UPDATE_IN_PROGRESS', reason: 'User Initiated', visibleAfter: 2 },
      { logicalId: 'BackupPolicy', type: 'AWS::IAM::ManagedPolicy', status: 'UPDATE_FAILED', reason: 'MalformedPolicyDocument: Policy document should not specify a principal.', visibleAfter: 3 },
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'UPDATE_ROLLBACK_IN_PROGRESS', visibleAfter: 3 },
      { logicalId: 's3-sysbackup', type: 'AWS::CloudFormation::Stack', status: 'UPDATE_ROLLBACK_COMPLETE', visibleAfter: 4 },
    ],
    parameters: { RetentionDays: '14' },
  })
  t.teardown(() => cfnScript.close())
  const update = await run('update-resources', ['--template', template], { ...env, ...cfnScript.env })
  t.equal(update.status, 3)
  const shown = update.stderr.trim().split('\n').map((l) => l.replace(/^\S+Z {2}/, ''))
  t.same(shown, [
    'UPDATE_IN_PROGRESS  AWS::CloudFormation::Stack  s3-sysbackup  User Initiated',
    'UPDATE_FAILED  AWS::IAM::ManagedPolicy  BackupPolicy  MalformedPolicyDocument: Policy document should not specify a principal.',
    'UPDATE_ROLLBACK_IN_PROGRESS  AWS::CloudFormation::Stack  s3-sysbackup',
    'UPDATE_ROLLBACK_COMPLETE  AWS::CloudFormation::Stack  s3-sysbackup',
    'failed: BackupPolicy (AWS::IAM::ManagedPolicy) UPDATE_FAILED: MalformedPolicyDocument: Policy document should not specify a principal.',
    's3-sysbackup update-resources: stack s3-sysbackup ended UPDATE_ROLLBACK_COMPLETE: BackupPolicy (AWS::IAM::ManagedPolicy) UPDATE_FAILED: MalformedPolicyDocument: Policy document should not specify a principal.',
  ], 'the create event before the update is not shown again')
})
