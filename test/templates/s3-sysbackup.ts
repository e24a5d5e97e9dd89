import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseTemplate } from '../../src/setup/cfn-yaml.js'
import { SHIPPED_TEMPLATE } from '../../src/setup/stack-template.js'
import { renderTemplate, type RenderedTemplate } from '../helpers/cfn-render.js'
import { evaluate, type PolicyDocument, type Request } from '../helpers/iam-policy.js'

// Claims of the shipped template, checked on the template as CloudFormation
// would render it and by evaluating its policies request by request.

const template = parseTemplate(readFileSync(SHIPPED_TEMPLATE, 'utf8'))
const ACCOUNT = '123456789012'
const ROOT_ARN = `arn:aws:iam::${ACCOUNT}:root`

/** Every S3 action AWS defines, from cfn-lint's copy of the IAM reference. */
function allS3Actions(): string[] {
  const script = `import json, os, cfnlint
d = json.load(open(os.path.join(os.path.dirname(cfnlint.__file__), 'data/AdditionalSpecs/Policies.json')))
print(json.dumps(sorted(d['s3']['Actions'])))`
  const names = JSON.parse(execFileSync('python3', ['-c', script], { encoding: 'utf8' })) as string[]
  return names.map((n) => `s3:${n}`)
}
const S3_ACTIONS = allS3Actions()

interface Package {
  rendered: RenderedTemplate
  bucket: string
  bucketArn: string
  bucketPolicy: PolicyDocument
  roleArn(role: string): string
  rolePolicy(role: 'BackupPolicy' | 'RestorePolicy' | 'AuditPolicy'): PolicyDocument
}

function render(parameters: Record<string, string> = {}): Package {
  const rendered = renderTemplate(template, { parameters, accountId: ACCOUNT })
  const bucket = rendered.physicalIds.Bucket!
  return {
    rendered,
    bucket,
    bucketArn: `arn:aws:s3:::${bucket}`,
    bucketPolicy: rendered.resources.BucketPolicy!.Properties.PolicyDocument as PolicyDocument,
    roleArn: (role) => `arn:aws:iam::${ACCOUNT}:role/${rendered.physicalIds[role]}`,
    rolePolicy: (name) => rendered.resources[name]!.Properties.PolicyDocument as PolicyDocument,
  }
}

const pkg = render()
const H = 'a'.repeat(64)
/** One sample of each kind of object in the layout, and the bucket itself. */
const SAMPLES = {
  bucket: pkg.bucketArn,
  content: `${pkg.bucketArn}/content/${H}`,
  ownManifest: `${pkg.bucketArn}/manifests/host1/2026-01-01T00:00:00Z.json`,
  otherManifest: `${pkg.bucketArn}/manifests/host2/2026-01-01T00:00:00Z.json`,
  snapshot: `${pkg.bucketArn}/snapshots/host1/2026-01-01T00:00:00Z-pgdump`,
  otherSnapshot: `${pkg.bucketArn}/snapshots/host2/2026-01-01T00:00:00Z-pgdump`,
  elsewhere: `${pkg.bucketArn}/other/key`,
}

/** The session tag a backup host's role session carries (see the trust policy test). */
const HOST_TAG = { 'aws:PrincipalTag/s3-sysbackup-host': 'host1' }

function decide(role: 'BackupRole' | 'RestoreRole' | 'AuditRole', req: Omit<Request, 'principalArn'>) {
  const policy = pkg.rolePolicy(role.replace('Role', 'Policy') as 'BackupPolicy')
  const context = { ...HOST_TAG, ...req.context }
  return evaluate([policy], [pkg.bucketPolicy], { principalArn: pkg.roleArn(role), ...req, context }).decision
}

/**
 * Every (action, sample) pair a role is allowed, over every S3 action and
 * every kind of object, for a well-formed request (TLS, the package's lock
 * mode, list prefix matching the sample).
 */
function allowedPairs(role: 'BackupRole' | 'RestoreRole' | 'AuditRole'): string[] {
  const out: string[] = []
  for (const action of S3_ACTIONS) {
    for (const [kind, resource] of Object.entries(SAMPLES)) {
      const prefixes = kind === 'bucket' ? ['content/', 'manifests/', 'manifests/host1/', 'manifests/host2/', 'snapshots/', undefined] : [undefined]
      for (const prefix of prefixes) {
        const context: Record<string, string | undefined> = { 's3:object-lock-mode': 'GOVERNANCE', 's3:prefix': prefix }
        if (decide(role, { action, resource, context }) === 'allow') out.push(`${action} ${kind}${prefix !== undefined ? ` prefix=${prefix}` : ''}`)
      }
    }
  }
  return out.sort()
}

const ALL_BUCKET_KINDS = ['bucket prefix=content/', 'bucket prefix=manifests/', 'bucket prefix=manifests/host1/', 'bucket prefix=manifests/host2/', 'bucket prefix=snapshots/', 'bucket']

function pairs(actions: string[], kinds: string[]): string[] {
  return actions.flatMap((a) => kinds.map((k) => `${a} ${k}`))
}

t.test('the shipped template passes cfn-lint with no errors, warnings or notes', async (t) => {
  const run = spawnSync('cfn-lint', ['--include-checks', 'I', '--', SHIPPED_TEMPLATE], { encoding: 'utf8' })
  t.equal(run.error, undefined, 'cfn-lint runs (it must be on PATH)')
  t.equal(run.stdout + run.stderr, '', 'no findings')
  t.equal(run.status, 0, 'exit status 0')
})

t.test('the bucket: Object Lock, versioning, no public access, encryption, retained with the stack', async (t) => {
  const bucket = pkg.rendered.resources.Bucket!
  const p = bucket.Properties
  t.equal(bucket.DeletionPolicy, 'Retain')
  t.equal(bucket.UpdateReplacePolicy, 'Retain')
  t.equal(p.BucketName, undefined, 'no BucketName by default: CloudFormation generates one')
  t.equal(p.ObjectLockEnabled, true)
  t.same(p.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: '14' } } })
  t.same(p.VersioningConfiguration, { Status: 'Enabled' })
  t.same(p.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true })
  t.same(p.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] }, 'ACLs disabled')
  t.same(p.BucketEncryption, { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] })
})

t.test('lifecycle: versions go once retention has passed; current content never expires', async (t) => {
  const rules = (pkg.rendered.resources.Bucket!.Properties.LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules
  for (const rule of rules) t.equal(rule.Status, 'Enabled', `${String(rule.Id)} enabled`)
  const expiring = rules.filter((r) => r.ExpirationInDays !== undefined || r.ExpirationDate !== undefined)
  t.same(expiring.map((r) => r.Prefix).sort(), ['manifests/', 'snapshots/'], 'only run objects (unique keys, never extended) expire by age')
  for (const r of expiring) t.equal(r.ExpirationInDays, '14', `${String(r.Prefix)} expire after RetentionDays`)
  const noncurrent = rules.filter((r) => r.NoncurrentVersionExpiration !== undefined)
  t.equal(noncurrent.length, 1)
  t.equal(noncurrent[0]!.Prefix, undefined, 'noncurrent versions are removed everywhere (Object Lock holds them until retention ends)')
  t.equal(noncurrent[0]!.ExpiredObjectDeleteMarker, true, 'delete markers with nothing behind them are cleaned up')
  t.same(noncurrent[0]!.AbortIncompleteMultipartUpload, { DaysAfterInitiation: 7 })
  for (const r of rules) {
    t.not(r.Prefix, 'content/', 'no rule aimed at content/')
    t.equal(r.Transitions ?? r.Transition, undefined, 'no storage-class transitions (restores stay immediate)')
  }
})

t.test('the bucket policy refuses other lock modes, governance bypass and plain HTTP', async (t) => {
  const admin = `arn:aws:iam::${ACCOUNT}:role/Administrator`
  const adminPolicy: PolicyDocument = { Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }
  const asAdmin = (req: Omit<Request, 'principalArn'>, principal = admin) => evaluate([adminPolicy], [pkg.bucketPolicy], { principalArn: principal, ...req }).decision
  const lock = (mode?: string) => ({ 's3:object-lock-mode': mode })
  t.equal(asAdmin({ action: 's3:PutObject', resource: SAMPLES.content, context: lock('GOVERNANCE') }), 'allow', 'configured mode accepted')
  t.equal(asAdmin({ action: 's3:PutObject', resource: SAMPLES.content, context: lock('COMPLIANCE') }), 'explicit-deny', 'another mode refused')
  t.equal(asAdmin({ action: 's3:PutObjectRetention', resource: SAMPLES.content, context: lock('COMPLIANCE') }), 'explicit-deny', 'no retention in another mode')
  t.equal(asAdmin({ action: 's3:PutObject', resource: SAMPLES.content, context: lock(undefined) }), 'allow',
    'no mode header (UploadPart, CompleteMultipartUpload) passes: the default retention locks it in the configured mode')
  t.equal(asAdmin({ action: 's3:BypassGovernanceRetention', resource: SAMPLES.content }), 'explicit-deny', 'no IAM principal may bypass governance')
  t.equal(asAdmin({ action: 's3:BypassGovernanceRetention', resource: SAMPLES.content }, ROOT_ARN), 'allow', 'the root user is the break-glass identity')
  t.equal(asAdmin({ action: 's3:GetObject', resource: SAMPLES.content, context: { 'aws:SecureTransport': 'false' } }), 'explicit-deny', 'TLS required')

  const compliance = render({ LockMode: 'COMPLIANCE' })
  const asAdminC = (mode: string) => evaluate([adminPolicy], [compliance.bucketPolicy], {
    principalArn: admin, action: 's3:PutObject', resource: `${compliance.bucketArn}/content/${H}`, context: lock(mode),
  }).decision
  t.equal(asAdminC('COMPLIANCE'), 'allow')
  t.equal(asAdminC('GOVERNANCE'), 'explicit-deny', 'with LockMode=COMPLIANCE, GOVERNANCE writes are refused')
  t.same((compliance.rendered.resources.Bucket!.Properties.ObjectLockConfiguration as { Rule: unknown }).Rule, { DefaultRetention: { Mode: 'COMPLIANCE', Days: '14' } })
})

t.test('backup role: stores, extends retention, lists content versions, reads the export; nothing else', async (t) => {
  const backupActions = ['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts']
  const expected = [
    ...pairs(backupActions, ['content', 'ownManifest', 'snapshot']),
    ...pairs(['s3:GetObject'], ['content', 'ownManifest']),
    ...pairs(['s3:GetObjectVersion', 's3:GetObjectRetention'], ['content']),
    ...pairs(['s3:ListBucket', 's3:ListBucketVersions'], ['bucket prefix=content/']),
    ...pairs(['s3:ListBucket'], ['bucket prefix=manifests/host1/']),
    ...pairs(['s3:GetBucketObjectLockConfiguration', 's3:GetBucketVersioning', 's3:GetBucketLocation'], ALL_BUCKET_KINDS),
  ]
  t.same(allowedPairs('BackupRole').map((p) => p.toLowerCase()), expected.map((p) => p.toLowerCase()).sort(), 'exactly these (action, object) pairs are allowed')

  const d = (action: string, resource: string, context: Record<string, string | undefined> = {}) => decide('BackupRole', { action, resource, context })
  for (const action of S3_ACTIONS.filter((a) => /^s3:delete/i.test(a))) {
    for (const resource of Object.values(SAMPLES)) t.not(d(action, resource), 'allow', `no ${action} on ${resource}`)
  }
  t.equal(d('s3:GetObject', SAMPLES.ownManifest), 'allow', 'reads its own manifests (to rebuild a lost state cache)')
  t.not(d('s3:GetObject', SAMPLES.otherManifest), 'allow', "no GetObject on other hosts' manifests")
  t.not(d('s3:PutObject', SAMPLES.otherManifest, { 's3:object-lock-mode': 'GOVERNANCE' }), 'allow', "cannot add to other hosts' manifests")
  t.not(d('s3:PutObject', SAMPLES.otherSnapshot, { 's3:object-lock-mode': 'GOVERNANCE' }), 'allow', "cannot add to other hosts' snapshots")
  t.not(d('s3:GetObject', SAMPLES.ownManifest, { 'aws:PrincipalTag/s3-sysbackup-host': undefined }), 'allow', 'a session without the host tag reads no manifest')
  t.not(d('s3:GetObjectVersion', SAMPLES.otherManifest), 'allow')
  t.not(d('s3:GetObject', SAMPLES.snapshot), 'allow', 'no reading snapshots')
  t.not(d('s3:ListBucket', SAMPLES.bucket, { 's3:prefix': 'manifests/host2/' }), 'allow', "cannot list other hosts' manifests")
  t.not(d('s3:ListBucket', SAMPLES.bucket), 'allow', 'cannot list the whole bucket')
  t.not(d('s3:PutObject', SAMPLES.elsewhere, { 's3:object-lock-mode': 'GOVERNANCE' }), 'allow', 'writes only into the layout')
  t.equal(d('s3:PutObject', SAMPLES.content, { 's3:object-lock-mode': 'COMPLIANCE' }), 'explicit-deny', 'other lock mode refused')
  t.not(d('s3:BypassGovernanceRetention', SAMPLES.content), 'allow', 'cannot shorten retention')
  t.not(d('s3:PutObjectLegalHold', SAMPLES.content), 'allow')
  t.not(d('s3:PutBucketPolicy', SAMPLES.bucket), 'allow')
  t.not(d('s3:PutLifecycleConfiguration', SAMPLES.bucket), 'allow')
  t.equal(evaluate([pkg.rolePolicy('BackupPolicy')], [], { action: 'cloudformation:ListExports', resource: '*' }).decision, 'allow', 'reads the export')
  t.not(evaluate([pkg.rolePolicy('BackupPolicy')], [], { action: 'cloudformation:DescribeStacks', resource: '*' }).decision, 'allow')
})

t.test('restore role: lists and reads everything, with retention; writes nothing', async (t) => {
  const objects = ['content', 'ownManifest', 'otherManifest', 'snapshot', 'otherSnapshot', 'elsewhere']
  const bucketKinds = ALL_BUCKET_KINDS
  const expected = [
    ...pairs(['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:GetObjectLegalHold'], objects),
    ...pairs(['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketObjectLockConfiguration', 's3:GetBucketVersioning', 's3:GetBucketLocation'], bucketKinds),
  ]
  t.same(allowedPairs('RestoreRole').map((p) => p.toLowerCase()), expected.map((p) => p.toLowerCase()).sort())
  for (const action of S3_ACTIONS.filter((a) => /^s3:(delete|put|bypass)/i.test(a))) {
    t.not(decide('RestoreRole', { action, resource: SAMPLES.content, context: { 's3:object-lock-mode': 'GOVERNANCE' } }), 'allow', `no ${action}`)
  }
})

t.test('audit role: lists, reads retention and manifests; no file content, no writes', async (t) => {
  const objects = ['content', 'ownManifest', 'otherManifest', 'snapshot', 'otherSnapshot', 'elsewhere']
  const bucketKinds = ALL_BUCKET_KINDS
  const expected = [
    ...pairs(['s3:GetObjectRetention', 's3:GetObjectLegalHold'], objects),
    ...pairs(['s3:GetObject', 's3:GetObjectVersion'], ['ownManifest', 'otherManifest']),
    ...pairs(['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketObjectLockConfiguration', 's3:GetBucketVersioning', 's3:GetBucketLocation',
      's3:GetBucketPolicy', 's3:GetLifecycleConfiguration', 's3:GetEncryptionConfiguration', 's3:GetBucketPublicAccessBlock'], bucketKinds),
  ]
  t.same(allowedPairs('AuditRole').map((p) => p.toLowerCase()), expected.map((p) => p.toLowerCase()).sort())
  t.not(decide('AuditRole', { action: 's3:GetObject', resource: SAMPLES.content }), 'allow', 'no file content')
  t.not(decide('AuditRole', { action: 's3:GetObject', resource: SAMPLES.snapshot }), 'allow', 'no snapshot content')
})

t.test('role policies name every action explicitly (no wildcards)', async (t) => {
  for (const name of ['BackupPolicy', 'RestorePolicy', 'AuditPolicy'] as const) {
    const statements = pkg.rolePolicy(name).Statement as Array<{ Action: string | string[], Effect: string }>
    for (const st of statements) {
      t.equal(st.Effect, 'Allow', `${name}: only Allow statements`)
      for (const a of [st.Action].flat()) t.notMatch(a, /[*?]/, `${name}: ${a}`)
    }
  }
})

t.test('the backup role is assumed only with a host session tag equal to the caller\'s own host tag', async (t) => {
  const trust = pkg.rendered.resources.BackupRole!.Properties.AssumeRolePolicyDocument as PolicyDocument
  const assume = (action: string, context: Record<string, string | undefined>) =>
    evaluate([], [trust], { action, resource: pkg.roleArn('BackupRole'), principalArn: ROOT_ARN, context }).decision
  const own = { 'aws:PrincipalTag/s3-sysbackup-host': 'host1' }
  for (const action of ['sts:AssumeRole', 'sts:TagSession']) {
    t.equal(assume(action, { ...own, 'aws:RequestTag/s3-sysbackup-host': 'host1' }), 'allow', `${action} with its own host tag`)
    t.not(assume(action, { ...own, 'aws:RequestTag/s3-sysbackup-host': 'host2' }), 'allow', `${action} claiming another host`)
    t.not(assume(action, { ...own }), 'allow', `${action} without the session tag`)
    t.not(assume(action, { 'aws:RequestTag/s3-sysbackup-host': 'host1' }), 'allow', `${action} by a caller without a host tag`)
  }
})

t.test('each role is assumable from the account; each group may assume its own role only', async (t) => {
  const roles = ['BackupRole', 'RestoreRole', 'AuditRole'] as const
  for (const role of roles) {
    const trust = pkg.rendered.resources[role]!.Properties.AssumeRolePolicyDocument as PolicyDocument
    const statements = Array.isArray(trust.Statement) ? trust.Statement : [trust.Statement]
    t.equal(statements.length, 1)
    t.same(statements[0]!.Principal, { AWS: ROOT_ARN }, `${role} trusts the account (IAM policies decide who)`)
    t.same([statements[0]!.Action].flat().sort(), role === 'BackupRole' ? ['sts:AssumeRole', 'sts:TagSession'] : ['sts:AssumeRole'])
    const group = pkg.rendered.resources[role.replace('Role', 'Group')]!.Properties.Policies as Array<{ PolicyDocument: PolicyDocument }>
    t.equal(group.length, 1)
    for (const other of roles) {
      const decision = evaluate([group[0]!.PolicyDocument], [], { action: 'sts:AssumeRole', resource: pkg.roleArn(other) }).decision
      t.equal(decision, other === role ? 'allow' : 'implicit-deny', `${role.replace('Role', 'Group')} ${other === role ? 'may' : 'may not'} assume ${other}`)
    }
    t.equal(evaluate([group[0]!.PolicyDocument], [], { action: 's3:GetObject', resource: SAMPLES.content }).decision, 'implicit-deny', 'group members get no direct S3 access')
  }
})

t.test('outputs: the bucket name is exported; write-config finds what it needs', async (t) => {
  const out = pkg.rendered.outputs
  t.same(out.BucketName, { Value: pkg.bucket, ExportName: 'backup-bucket' })
  t.equal(out.BackupRoleArn!.Value, pkg.roleArn('BackupRole'))
  t.equal(out.BackupGroupName!.Value, pkg.rendered.physicalIds.BackupGroup)
  t.equal(out.RetentionDays!.Value, '14')
  t.equal(out.LockMode!.Value, 'GOVERNANCE')
  for (const key of ['RestoreRoleArn', 'AuditRoleArn', 'RestoreGroupName', 'AuditGroupName', 'BucketArn']) t.ok(out[key], `${key} output`)

  const custom = render({ BucketName: 'my-backups', ExportName: 'other-export', RetentionDays: '30' })
  t.equal(custom.rendered.resources.Bucket!.Properties.BucketName, 'my-backups')
  t.same(custom.rendered.outputs.BucketName, { Value: 'my-backups', ExportName: 'other-export' })
  const rules = (custom.rendered.resources.Bucket!.Properties.LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules
  t.same(rules.filter((r) => r.ExpirationInDays).map((r) => r.ExpirationInDays), ['30', '30'])
  t.throws(() => render({ LockMode: 'LEGAL' }), /not allowed/)
})
