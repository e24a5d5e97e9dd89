import { createServer, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'

/**
 * A CloudFormation endpoint that plays a script: real HTTP, answers in
 * CloudFormation's own query-protocol XML, so the real SDK and the command
 * run unchanged against it. For what moto cannot do: moto finishes every
 * stack synchronously and never fails one (no resource events, no
 * rollback), so a stack that progresses over several polls and then fails
 * is played from a script here.
 *
 * The script is a timeline: `statuses[i]` is what the (i+1)-th
 * DescribeStacks answers (the last one repeats); each event becomes visible
 * once DescribeStacks has been asked `visibleAfter` times. Events are
 * listed newest first, `pageSize` per page, with NextToken.
 */
export interface ScriptedEvent {
  logicalId: string
  type: string
  status: string
  reason?: string
  visibleAfter: number
}

export interface Script {
  stackName: string
  statuses: string[]
  statusReason?: string
  events: ScriptedEvent[]
  pageSize?: number
  parameters?: Record<string, string>
  outputs?: Array<{ key: string, value: string, exportName?: string }>
  /** When set, UpdateStack answers this ValidationError message. */
  updateError?: string
  /** When set, CreateStack answers this error (code, message). */
  createError?: { code: string, message: string }
}

export interface ScriptedCfn {
  endpoint: string
  env: NodeJS.ProcessEnv
  /** Every request received: its Action and parameters. */
  requests: Array<Record<string, string>>
  close(): Promise<void>
}

const NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/'

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function respond(action: string, inner: string): string {
  return `<${action}Response xmlns="${NS}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`
}

function error(code: string, message: string): string {
  return `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
}

export async function startScriptedCfn(script: Script): Promise<ScriptedCfn> {
  const stackId = `arn:aws:cloudformation:us-east-1:123456789012:stack/${script.stackName}/${randomUUID()}`
  const requests: Array<Record<string, string>> = []
  const base = Date.parse('2026-01-01T00:00:00Z')
  const events = script.events.map((e, i) => ({ ...e, id: randomUUID(), time: new Date(base + i * 1000).toISOString() }))
  let describes = 0
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))
      requests.push(params)
      const send = (status: number, body: string) => {
        res.writeHead(status, { 'content-type': 'text/xml' })
        res.end(body)
      }
      switch (params.Action) {
        case 'CreateStack':
          if (script.createError) return send(400, error(script.createError.code, script.createError.message))
          return send(200, respond('CreateStack', `<StackId>${stackId}</StackId>`))
        case 'UpdateStack':
          if (script.updateError) return send(400, error('ValidationError', script.updateError))
          return send(200, respond('UpdateStack', `<StackId>${stackId}</StackId>`))
        case 'DescribeStacks': {
          describes++
          const status = script.statuses[Math.min(describes, script.statuses.length) - 1]!
          const parameters = Object.entries(script.parameters ?? {}).map(([k, v]) => `<member><ParameterKey>${k}</ParameterKey><ParameterValue>${esc(v)}</ParameterValue></member>`).join('')
          const outputs = (script.outputs ?? []).map((o) => `<member><OutputKey>${o.key}</OutputKey><OutputValue>${esc(o.value)}</OutputValue>${o.exportName ? `<ExportName>${o.exportName}</ExportName>` : ''}</member>`).join('')
          return send(200, respond('DescribeStacks', `<Stacks><member><StackName>${script.stackName}</StackName><StackId>${stackId}</StackId>` +
            `<CreationTime>2026-01-01T00:00:00.000Z</CreationTime><StackStatus>${status}</StackStatus>` +
            (script.statusReason ? `<StackStatusReason>${esc(script.statusReason)}</StackStatusReason>` : '') +
            `<Parameters>${parameters}</Parameters><Outputs>${outputs}</Outputs></member></Stacks>`))
        }
        case 'DescribeStackEvents': {
          const visible = events.filter((e) => describes >= e.visibleAfter).reverse()
          const start = Number(params.NextToken ?? 0)
          const size = script.pageSize ?? 100
          const page = visible.slice(start, start + size)
          const next = start + size < visible.length ? `<NextToken>${start + size}</NextToken>` : ''
          const members = page.map((e) => `<member><StackId>${stackId}</StackId><EventId>${e.id}</EventId><StackName>${script.stackName}</StackName>` +
            `<LogicalResourceId>${e.logicalId}</LogicalResourceId><ResourceType>${e.type}</ResourceType><Timestamp>${e.time}</Timestamp>` +
            `<ResourceStatus>${e.status}</ResourceStatus>${e.reason ? `<ResourceStatusReason>${esc(e.reason)}</ResourceStatusReason>` : ''}</member>`).join('')
          return send(200, respond('DescribeStackEvents', `<StackEvents>${members}</StackEvents>${next}`))
        }
        default:
          return send(400, error('InvalidAction', `not scripted: ${params.Action}`))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
    },
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
