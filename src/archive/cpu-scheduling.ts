import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** sched(7)'s normal policy, as /proc/PID/stat gives it. */
const SCHED_OTHER = 0

/**
 * The scheduling policy of process `pid`'s main thread: field 41 of
 * /proc/PID/stat (proc(5)), counted after the command name in parentheses,
 * which may hold spaces. SCHED_OTHER where /proc cannot tell.
 */
export function schedulingPolicyOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const policy = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3])
    return Number.isInteger(policy) ? policy : SCHED_OTHER
  } catch {
    return SCHED_OTHER
  }
}

/** How long chrt(1) may take before the run goes on without it. */
const CHRT_TIMEOUT_MS = 5000

/**
 * Puts every thread of this process under SCHED_BATCH (sched(7)), through
 * util-linux's chrt(1), since Node has no binding for sched_setscheduler(2).
 * Threads and processes started afterwards inherit the policy from the
 * thread that starts them: the thread pool's threads (made at its first
 * use), pickers, snapshotters and their children. Any user may choose it
 * (its nice value is kept); switching back needs no privilege either.
 *
 * Why: under SCHED_BATCH a thread that is woken does not preempt the one
 * running on its core. A first backup's main thread hands every read and
 * every gzip to the thread pool, and under the normal policy each hand-off
 * could give the woken pool thread the main thread's core while the other
 * core was busy encoding. A 20,000-file first run on 2 cores, side by
 * side: median ratio 0.92 over 7 pairs under chrt -b, 0.95 over 5 pairs
 * against --cpu-scheduling normal. A daily backup is a batch job
 * anyway: it also no longer preempts the machine's interactive work.
 *
 * A run started under another policy than the normal one keeps it: that
 * was the choice of whoever started it (the unit that s3-sysbackup
 * write-config writes sets CPUSchedulingPolicy=batch itself, with Nice=10).
 *
 * Resolves with undefined once done, or with why it could not be done (no
 * chrt, or the kernel refused); the caller goes on either way, since a
 * backup's correctness does not depend on it. Await it before starting
 * threads or processes, so none escapes the policy.
 */
export function useBatchScheduling(pid = process.pid): Promise<string | undefined> {
  if (schedulingPolicyOf(pid) !== SCHED_OTHER) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    execFile('chrt', ['--all-tasks', '--batch', '--pid', '0', String(pid)], { timeout: CHRT_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err === null) resolve(undefined)
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') resolve('chrt(1) not found')
      else resolve(stderr.trim().split('\n')[0] || err.message)
    })
  })
}
