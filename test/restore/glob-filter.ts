import t from 'tap'
import { UsageError } from '../../src/cli/errors.js'
import { PathFilter } from '../../src/restore/glob-filter.js'

const selects = (inc: string[], exc: string[], path: string | Buffer) => new PathFilter(inc, exc).selects(path)

t.test('no patterns: everything', async (t) => {
  t.ok(new PathFilter([], []).selectsAll)
  t.ok(selects([], [], '/anything'))
})

t.test('a pattern that matches a directory takes everything beneath it', async (t) => {
  t.ok(selects(['/etc'], [], '/etc'))
  t.ok(selects(['/etc'], [], '/etc/ssh/sshd_config'))
  t.notOk(selects(['/etc'], [], '/etcetera'))
  t.notOk(selects(['/etc'], [], '/'))
  t.ok(selects(['/etc/'], [], '/etc/x'), 'a trailing slash is ignored')
  t.ok(selects(['etc/ssh'], [], '/etc/ssh/k'), 'no leading slash: from the root')
})

t.test('* and ? stay within a component; ** crosses them', async (t) => {
  t.ok(selects(['/home/*/.ssh'], [], '/home/ann/.ssh/id_ed25519'))
  t.notOk(selects(['/home/*/.ssh'], [], '/home/ann/work/.ssh'))
  t.ok(selects(['/home/**/.ssh'], [], '/home/ann/work/.ssh/k'))
  t.ok(selects(['/home/**/.ssh'], [], '/home/.ssh'), '/**/ matches one slash too')
  t.ok(selects(['/var/**'], [], '/var/lib/x'))
  t.ok(selects(['/etc/s?h'], [], '/etc/ssh'))
  t.ok(selects(['/x/?'], [], '/x/é'), '? is one character, not one byte')
  t.notOk(selects(['/x/?'], [], '/x/ab'))
  t.ok(selects(['/x/*'], [], '/x/new\nline'), 'newlines in names match')
  t.ok(selects(['/e[st]c'], [], '/etc'))
  t.notOk(selects(['/e[!t]c'], [], '/etc'))
  t.ok(selects(['/a\\*b'], [], '/a*b'))
  t.notOk(selects(['/a\\*b'], [], '/axb'))
})

t.test('a pattern without a slash matches a name at any depth', async (t) => {
  t.ok(selects(['*.conf'], [], '/etc/nginx/nginx.conf'))
  t.notOk(selects(['*.conf'], [], '/etc/nginx/nginx.conf.bak'))
  t.ok(selects([], ['*.log'], '/srv/app'))
  t.notOk(selects([], ['*.log'], '/var/log/syslog.log'))
  t.notOk(selects([], ['cache'], '/home/ann/cache/x'))
})

t.test('exclusion wins; names that are not UTF-8 are matched by their bytes', async (t) => {
  t.notOk(selects(['/home'], ['/home/*/.cache'], '/home/ann/.cache/big'))
  t.ok(selects(['/home'], ['/home/*/.cache'], '/home/ann/.bashrc'))
  const latin1 = Buffer.from([0x2f, 0x64, 0x2f, 0x63, 0x61, 0x66, 0xe9])
  t.ok(selects(['/d/caf?'], [], latin1))
  t.ok(selects(['/d'], [], latin1))
  t.notOk(selects([], ['/d/*'], latin1))
})

t.test('bad patterns are usage errors naming the option', async (t) => {
  for (const [inc, exc, why] of [[[''], [], /--include: empty pattern/], [[], ['/a[b'], /--exclude: pattern "\/a\[b" has "\[" without "\]"/], [['/a\\'], [], /ends with a lone/]] as const) {
    let caught: unknown
    try { new PathFilter(inc, exc) } catch (err) { caught = err }
    t.ok(caught instanceof UsageError)
    t.match((caught as Error).message, why)
  }
})
