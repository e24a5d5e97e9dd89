import { setTimeout as sleep } from 'node:timers/promises'
import {
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  type CloudFormationClient,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation'
import { awsCall } from './aws-errors.js'

/** How a stack operation ended. */
export interface StackOutcome {
  /** The stack as DescribeStacks returned it at the end. */
  stack: Stack
  /** Terminal status, e.g. CREATE_COMPLETE or ROLLBACK_COMPLETE. */
  status: string
  /** Resource events of this operation that failed, oldest first (the first is usually the cause). */
  failures: StackEvent[]
}

export interface WatchOptions {
  /** Events up to and including this id belong to earlier operations and are not shown. */
  after?: string
  /** Milliseconds between polls. */
  pollMs: number
  /** Receives each new event, oldest first. */
  onEvent(event: StackEvent): void
  signal?: AbortSignal
}

/** True while CloudFormation is still working on the stack. */
export function inProgress(status: string | undefined): boolean {
  return status === undefined || status.endsWith('_IN_PROGRESS')
}

/**
 * Polls a stack until its status settles (no longer `*_IN_PROGRESS`),
 * handing every new event to `onEvent` as it appears. Returns the final
 * stack and the failed resource events. A failed request throws a
 * FatalError (exit 3).
 */
export async function watchStack(cfn: CloudFormationClient, stackId: string, options: WatchOptions): Promise<StackOutcome> {
  const seen = new Set<string>()
  const failures: StackEvent[] = []
  const poll = async () => {
    for (const event of await newEvents(cfn, stackId, seen, options.after)) {
      if (event.ResourceStatus?.endsWith('_FAILED')) failures.push(event)
      options.onEvent(event)
    }
  }
  for (;;) {
    await poll()
    const stack = await describeStack(cfn, stackId)
    if (!inProgress(stack.StackStatus)) {
      // Events of the last moments may be published after the status changes.
      await poll()
      return { stack, status: stack.StackStatus!, failures }
    }
    await sleep(options.pollMs, undefined, { signal: options.signal })
  }
}

/** The stack (by name or id); throws a FatalError when it does not exist. */
export async function describeStack(cfn: CloudFormationClient, stack: string): Promise<Stack> {
  const out = await awsCall(`DescribeStacks ${stack}`, () => cfn.send(new DescribeStacksCommand({ StackName: stack })))
  const found = out.Stacks?.[0]
  if (!found) throw new Error(`DescribeStacks ${stack}: no stack in the answer`)
  return found
}

/** Id of the stack's most recent event (to show only later ones), if any. */
export async function latestEventId(cfn: CloudFormationClient, stack: string): Promise<string | undefined> {
  const out = await awsCall(`DescribeStackEvents ${stack}`, () => cfn.send(new DescribeStackEventsCommand({ StackName: stack })))
  return out.StackEvents?.[0]?.EventId
}

/**
 * Events not seen yet, oldest first. CloudFormation lists newest first, so
 * pages are read until an event already seen (or the `after` marker) shows
 * up, or the history ends.
 */
async function newEvents(cfn: CloudFormationClient, stackId: string, seen: Set<string>, after: string | undefined): Promise<StackEvent[]> {
  const fresh: StackEvent[] = []
  let token: string | undefined
  do {
    const page = await awsCall(`DescribeStackEvents ${stackId}`, () => cfn.send(new DescribeStackEventsCommand({ StackName: stackId, NextToken: token })))
    for (const event of page.StackEvents ?? []) {
      const id = event.EventId ?? `${event.LogicalResourceId}/${event.ResourceStatus}/${event.Timestamp?.toISOString()}`
      if (seen.has(id) || id === after) return finish()
      seen.add(id)
      fresh.push(event)
    }
    token = page.NextToken
  } while (token)
  return finish()

  function finish(): StackEvent[] {
    return fresh.reverse()
  }
}

/** One line for an event: time, status, type, logical id and reason. */
export function formatEvent(event: StackEvent): string {
  const time = event.Timestamp ? event.Timestamp.toISOString().replace(/\.\d+Z$/, 'Z') : '-'
  const reason = event.ResourceStatusReason ? `  ${oneLine(event.ResourceStatusReason)}` : ''
  return `${time}  ${event.ResourceStatus ?? '-'}  ${event.ResourceType ?? '-'}  ${event.LogicalResourceId ?? '-'}${reason}`
}

/** `Bucket (AWS::S3::Bucket) CREATE_FAILED: reason`: what failed and why. */
export function describeFailure(event: StackEvent): string {
  const reason = event.ResourceStatusReason ? `: ${oneLine(event.ResourceStatusReason)}` : ''
  return `${event.LogicalResourceId ?? '?'} (${event.ResourceType ?? '?'}) ${event.ResourceStatus ?? ''}${reason}`
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ')
}
