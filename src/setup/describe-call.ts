/**
 * One line naming an AWS request and its key parameters, as `--dry-run`
 * prints it: `aws cloudformation CreateStack StackName=s3-sysbackup …`.
 * Values are shown as is when they are plain words, JSON-quoted otherwise;
 * `Parameters` lists show `Key=Value` (or `Key=(previous value)`).
 */
export function describeCall(service: string, operation: string, params: Record<string, unknown>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${show(k, v)}`)
  return ['aws', service, operation, ...parts].join(' ')
}

function show(key: string, value: unknown): string {
  if (key === 'Parameters' && Array.isArray(value)) {
    return `[${(value as Array<{ ParameterKey?: string, ParameterValue?: string, UsePreviousValue?: boolean }>)
      .map((p) => `${p.ParameterKey}=${p.UsePreviousValue ? '(previous value)' : word(p.ParameterValue ?? '')}`).join(',')}]`
  }
  if (Array.isArray(value)) return `[${value.map((v) => word(String(v))).join(',')}]`
  return word(String(value))
}

function word(text: string): string {
  return /^[\w@%+=:,./<>()-]+$/.test(text) ? text : JSON.stringify(text)
}
