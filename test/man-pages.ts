import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { COMMON_OPTIONS, type OptionSpec } from '../src/cli/args.js'
import { SCHEMA } from '../src/config/schema.js'
import { STAGES, SUBCOMMANDS, TOOLS } from '../src/commands/registry.js'
import { ROOT } from './helpers/bin.js'

/** Man page text with roff font escapes removed and `\-` as `-`. */
function manText(page: string): string {
  return readFileSync(join(ROOT, 'man', page), 'utf8').replace(/\\f[BIRP]|\\f\(..|\\&/g, '').replace(/\\-/g, '-')
}

function checkPage(t: Test, page: string, options: OptionSpec[]): void {
  t.ok(existsSync(join(ROOT, 'man', page)), `${page} exists`)
  if (!existsSync(join(ROOT, 'man', page))) return
  const text = manText(page)
  for (const o of [...options, ...COMMON_OPTIONS]) t.ok(text.includes(`--${o.name}`), `${page} documents --${o.name}`)
  for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'SEE ALSO']) {
    t.match(text, new RegExp(`^\\.SH "?${section}"?$`, 'm'), `${page} has ${section}`)
  }
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string[], bin: Record<string, string> }

t.test('every stage and tool has a man page with every option', async (t) => {
  for (const [name, load] of [...Object.entries(STAGES), ...Object.entries(TOOLS)]) {
    checkPage(t, `${name}.1`, (await load()).options)
    t.ok(pkg.bin[name], `package.json bin has ${name}`)
  }
})

t.test('every subcommand has a man page with every option', async (t) => {
  for (const [name, load] of Object.entries(SUBCOMMANDS)) {
    checkPage(t, `s3-sysbackup-${name}.1`, (await load()).options)
    t.match(manText('s3-sysbackup.1'), `s3-sysbackup-${name}`, `s3-sysbackup(1) refers to ${name}`)
  }
})

t.test('s3-sysbackup.conf(5) documents every setting', async (t) => {
  const text = manText('s3-sysbackup.conf.5')
  for (const [section, settings] of Object.entries(SCHEMA)) {
    t.match(text, new RegExp(`^\\.SS \\[${section}\\]$`, 'm'), `[${section}] documented`)
    const body = text.split(`.SS [${section}]`)[1]!.split('.SS ')[0]!
    for (const key of Object.keys(settings)) t.match(body, new RegExp(`^\\.B ${key}$`, 'm'), `[${section}] ${key} documented`)
  }
})

t.test('every man page is listed in package.json and passes mandoc lint', async (t) => {
  const pages = execFileSync('ls', [join(ROOT, 'man')], { encoding: 'utf8' }).split('\n').filter(Boolean)
  for (const page of pages) {
    t.ok(pkg.man.includes(`man/${page}`), `package.json man lists ${page}`)
    let lint = ''
    try {
      lint = execFileSync('mandoc', ['-T', 'lint', '-W', 'warning', join(ROOT, 'man', page)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      lint = String((err as { stdout?: string }).stdout ?? err)
    }
    t.equal(lint, '', `mandoc -T lint ${page}`)
  }
})
