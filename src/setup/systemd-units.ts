import { UsageError } from '../cli/errors.js'
import { DEFAULT_PACKAGE } from './package-name.js'

export interface UnitSettings {
  packageName: string
  /** The command that runs s3-sysbackup: an absolute program, maybe with arguments (e.g. node and the script). */
  exec: string
  /** System user the backup runs as. */
  user: string
  configDir: string
  stateDir: string
  /** Daily start time, `HH:MM` or `HH:MM:SS`. */
  start: string
  /** Length of the random window after the start, a systemd time span (`4h`, `90min`). */
  window: string
}

/** Base name of the units: `s3-sysbackup` for the default package, `s3-sysbackup-NAME` for others. */
export function unitBaseName(packageName: string): string {
  return packageName === DEFAULT_PACKAGE ? DEFAULT_PACKAGE : `s3-sysbackup-${packageName}`
}

/** Checks `--start` (a time of day) and returns it as `HH:MM:SS`. */
export function parseStart(text: string): string {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text)
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59) {
    throw new UsageError(`--start: "${text}" is not a time of day (HH:MM or HH:MM:SS)`)
  }
  return `${m[1]!.padStart(2, '0')}:${m[2]}:${m[3] ?? '00'}`
}

const SPAN_UNIT = /^(usec|us|µs|msec|ms|seconds?|sec|s|minutes?|min|m|hours?|hr|h|days?|d|weeks?|w|months?|M|years?|y)$/

/** Checks `--window` against systemd.time(7)'s time spans (`4h`, `1h 30min`, `5400`). */
export function parseWindow(text: string): string {
  const parts = text.trim().match(/\d+(?:\.\d+)?\s*[a-zA-Zµ]*/g)
  const ok = parts !== null && parts.join('').replace(/\s/g, '') === text.replace(/\s/g, '') &&
    parts.every((p) => { const unit = p.replace(/^[\d.]+\s*/, ''); return unit === '' || SPAN_UNIT.test(unit) })
  if (!ok) throw new UsageError(`--window: "${text}" is not a time span (e.g. 4h, 90min, 1h 30min)`)
  return text.trim()
}

/**
 * The oneshot service that runs `s3-sysbackup archive` as the backup user.
 *
 * Reading every file as a non-root user: CAP_DAC_READ_SEARCH (ambient, and
 * the only capability in the bounding set) bypasses read and directory
 * search permission checks, and nothing else: the service cannot write,
 * chown or signal outside what the user owns. The rest is hardening that
 * a backup does not miss: the whole file system read-only except the
 * state directory (ProtectSystem=strict, ReadWritePaths=), /home readable
 * but not writable, a private /tmp, no privilege gain, kernel settings
 * untouchable; and low CPU and I/O priority so the machine's real work
 * comes first.
 */
export function renderService(s: UnitSettings): string {
  return `# Written by s3-sysbackup write-config; see s3-sysbackup-write-config(1).
[Unit]
Description=s3-sysbackup: back up this machine (package ${s.packageName})
Documentation=man:s3-sysbackup(1) man:s3-sysbackup.conf(5)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
User=${s.user}
Environment=S3_SYSBACKUP_CONFIG=${s.configDir}
ExecStart=${s.exec} archive
# Read every file without being root: bypass read and search permission
# checks, and nothing more.
AmbientCapabilities=CAP_DAC_READ_SEARCH
CapabilityBoundingSet=CAP_DAC_READ_SEARCH
NoNewPrivileges=yes
# Everything read-only but the state directory.
ProtectSystem=strict
ReadWritePaths=${s.stateDir}
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictRealtime=yes
UMask=0077
# Stay out of the way of the machine's own work.
Nice=10
CPUSchedulingPolicy=batch
IOSchedulingClass=idle
`
}

/**
 * The daily timer: starts at a random moment in [start, start + window]
 * (so that many hosts do not hit S3 at once), and catches up at boot on a
 * run missed while the machine was off (Persistent=true).
 */
export function renderTimer(s: UnitSettings): string {
  return `# Written by s3-sysbackup write-config; see s3-sysbackup-write-config(1).
[Unit]
Description=Daily s3-sysbackup run (package ${s.packageName})
Documentation=man:s3-sysbackup(1)

[Timer]
OnCalendar=*-*-* ${s.start}
RandomizedDelaySec=${s.window}
Persistent=true
AccuracySec=1min

[Install]
WantedBy=timers.target
`
}
