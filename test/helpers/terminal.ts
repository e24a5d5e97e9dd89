import { spawn } from 'node:child_process'

/** One exchange on the terminal: wait until the output so far matches `expect`, then type `send`. */
export interface TerminalStep {
  expect: RegExp
  send: string
}

/**
 * Runs the shell command `command` on a pseudo-terminal of its own (its
 * controlling terminal, /dev/tty), through util-linux script(1), and plays
 * `steps`. Returns the exit status and everything the terminal showed
 * (prompts, echoes, messages on stdout and stderr alike). tap's loader is
 * kept out of NODE_OPTIONS; AWS variables of the test process are not passed.
 */
export function runOnTerminal(command: string, env: NodeJS.ProcessEnv, steps: TerminalStep[], timeoutMs = 60_000): Promise<{ status: number | null, output: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && k !== 'NODE_OPTIONS'))
  return new Promise((resolve, reject) => {
    const child = spawn('env', ['-u', 'NODE_OPTIONS', 'script', '-qec', command, '/dev/null'], {
      env: { ...clean, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let output = ''
    let step = 0
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.stdin.on('error', () => {})
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8')
      while (step < steps.length && steps[step]!.expect.test(output)) child.stdin.write(steps[step++]!.send)
    })
    child.on('error', reject)
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, output }) })
  })
}
