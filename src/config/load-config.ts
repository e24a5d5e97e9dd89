import { readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import ini from 'ini'
import { ConfigError } from '../cli/errors.js'
import { matchChoice, notOneOf } from '../util/choice.js'
import { DEFAULT_CONFIG_DIR, SCHEMA, type AnySetting, type Config } from './schema.js'

/** A configuration directory, loaded and checked. */
export interface LoadedConfig {
  /** The configuration directory, or null when running on built-in defaults. */
  dir: string | null
  /** Path of the conf file read, or null. */
  file: string | null
  values: Config
}

/** Environment variable naming the configuration directory (as --config does). */
export const CONFIG_ENV = 'S3_SYSBACKUP_CONFIG'

/**
 * Loads the configuration directory named by `--config` (`explicitDir`), or
 * by $S3_SYSBACKUP_CONFIG, or the default /etc/backup.
 *
 * A directory that was named (flag or environment) must exist and hold a
 * `conf` file. The default directory may be absent altogether, so a stage
 * can be run by hand on a machine that is not set up: then every setting
 * takes its built-in default and `dir` is null. A default directory that
 * exists without `conf` is an error, since that is a broken setup.
 * Throws ConfigError with the file, line and setting at fault.
 */
export function loadConfig(explicitDir: string | undefined, env: NodeJS.ProcessEnv): LoadedConfig {
  const named = explicitDir ?? env[CONFIG_ENV]
  const dir = resolve(named ?? DEFAULT_CONFIG_DIR)
  const file = join(dir, 'conf')
  let text: string
  try {
    const st = statSync(dir)
    if (!st.isDirectory()) throw new ConfigError(`${dir}: configuration directory is not a directory`)
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && named === undefined && !exists(dir)) {
      return { dir: null, file: null, values: parseConf('', '(defaults)', process.cwd()) }
    }
    if (code === 'ENOENT') throw new ConfigError(`${file}: missing configuration file`)
    throw new ConfigError(`${file}: cannot read configuration: ${code ?? (err as Error).message}`)
  }
  return { dir, file, values: parseConf(text, file, dir) }
}

function exists(path: string): boolean {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

/**
 * Parses conf text (ini format: `[section]`, `key = value`, `#` or `;`
 * comments) against SCHEMA. Unknown sections and keys, bad numbers, bad
 * enum values and settings outside a section are errors naming
 * `file:line`. Relative `path` settings are resolved against `baseDir`.
 */
export function parseConf(text: string, file: string, baseDir: string): Config {
  const where = (section: string | null, key?: string) => `${file}:${lineOf(text, section, key)}`
  let parsed: Record<string, unknown>
  try {
    parsed = ini.parse(text) as Record<string, unknown>
  } catch (err) {
    throw new ConfigError(`${file}: cannot parse: ${(err as Error).message}`)
  }
  const out: Record<string, Record<string, unknown>> = {}
  for (const [sectionName, settings] of Object.entries(SCHEMA)) {
    out[sectionName] = {}
    for (const [key, setting] of Object.entries(settings as Record<string, AnySetting>)) {
      if (setting.default !== undefined) {
        out[sectionName]![key] = setting.kind === 'path' ? resolvePath(String(setting.default), baseDir) : setting.default
      }
    }
  }
  for (const [sectionName, section] of Object.entries(parsed)) {
    if (typeof section !== 'object' || section === null || Array.isArray(section)) {
      throw new ConfigError(`${where(null, sectionName)}: setting "${sectionName}" is outside any [section]`)
    }
    const known = (SCHEMA as Record<string, Record<string, AnySetting>>)[sectionName]
    if (!known) {
      throw new ConfigError(`${where(sectionName)}: unknown section [${sectionName}] (known: ${Object.keys(SCHEMA).join(', ')})`)
    }
    for (const [key, raw] of Object.entries(section as Record<string, unknown>)) {
      const setting = known[key]
      if (!setting) {
        throw new ConfigError(`${where(sectionName, key)}: unknown setting "${key}" in [${sectionName}] (known: ${Object.keys(known).join(', ')})`)
      }
      out[sectionName]![key] = convert(setting, raw, baseDir, `${where(sectionName, key)}: [${sectionName}] ${key}`)
    }
  }
  return out as Config
}

function convert(setting: AnySetting, raw: unknown, baseDir: string, where: string): unknown {
  if (typeof raw === 'object' && raw !== null) throw new ConfigError(`${where}: expected a single value`)
  const text = String(raw).trim()
  switch (setting.kind) {
    case 'string':
      if (text === '') throw new ConfigError(`${where}: empty value`)
      return text
    case 'path':
      if (text === '') throw new ConfigError(`${where}: empty path`)
      return resolvePath(text, baseDir)
    case 'bool':
      if (/^(true|yes|on|1)$/i.test(text)) return true
      if (/^(false|no|off|0)$/i.test(text)) return false
      throw new ConfigError(`${where}: "${text}" is not true or false`)
    case 'enum': {
      const value = matchChoice(text, setting.values!)
      if (value === undefined) throw new ConfigError(`${where}: ${notOneOf(text, setting.values!)}`)
      return value
    }
    case 'int':
    case 'number': {
      const pattern = setting.kind === 'int' ? /^\d+$/ : /^\d+(\.\d+)?$/
      if (!pattern.test(text)) throw new ConfigError(`${where}: "${text}" is not a ${setting.kind === 'int' ? 'whole ' : ''}number`)
      const n = Number(text)
      if (setting.min !== undefined && n < setting.min) throw new ConfigError(`${where}: ${n} is less than ${setting.min}`)
      if (setting.max !== undefined && n > setting.max) throw new ConfigError(`${where}: ${n} is more than ${setting.max}`)
      return n
    }
  }
}

function resolvePath(path: string, baseDir: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path)
}

/** The 1-based line of `[section]` or of `key` within it; 1 when not found. */
function lineOf(text: string, section: string | null, key?: string): number {
  const lines = text.split('\n')
  let current: string | null = null
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    const header = /^\[(.*)\]$/.exec(line)
    if (header) {
      current = header[1]!.trim()
      if (key === undefined && current === section) return i + 1
      continue
    }
    if (key !== undefined && current === section && line.split(/[=:]/)[0]!.trim() === key) return i + 1
  }
  return 1
}
