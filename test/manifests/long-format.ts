import t from 'tap'
import { LongFormat, permissions } from '../../src/manifests/long-format.js'

t.test('permissions: rwx triads with setuid, setgid and sticky, lower case over x, upper case without', async (t) => {
  t.equal(permissions('0644'), 'rw-r--r--')
  t.equal(permissions('0755'), 'rwxr-xr-x')
  t.equal(permissions('4755'), 'rwsr-xr-x')
  t.equal(permissions('4644'), 'rwSr--r--')
  t.equal(permissions('2755'), 'rwxr-sr-x')
  t.equal(permissions('2745'), 'rwxr-Sr-x')
  t.equal(permissions('1777'), 'rwxrwxrwt')
  t.equal(permissions('1776'), 'rwxrwxrwT')
  t.equal(permissions('7000'), '--S--S--T')
  t.equal(permissions('0000'), '---------')
  t.equal(permissions('644'), '?????????', 'not 4 octal digits')
  t.equal(permissions(undefined), '?????????')
})

t.test('entry lines: what a record lacks is a ?; times are UTC minutes, before 1970 too', async (t) => {
  const f = new LongFormat()
  const line = f.entry({ type: 'file', path: '/x', mode: '0600', uid: 5, gid: 6, mtimeNs: '-1' }, '/x')
  t.equal(line, '-rw------- 5        6                 ? 1969-12-31 23:59 /x\n')
  t.equal(f.entry({ type: 'special', kind: 'block', mode: '0660', user: 'root', group: 'disk', uid: 0, gid: 6, mtimeNs: '0', rdev: 2049 }, '/dev/sda1'),
    'brw-rw---- root     disk           8, 1 1970-01-01 00:00 /dev/sda1\n')
  t.equal(f.entry({ type: 'special', kind: 'char', mode: '0600', uid: 0, gid: 0, mtimeNs: '0', rdev: (259 << 8 | 0) + 0x100000 }, '/dev/big'),
    'crw------- 0        0          259, 256 1970-01-01 00:00 /dev/big\n', 'minor numbers past 255')
  t.equal(f.entry({ type: 'weird', mode: 'x', mtimeNs: 'soon' }, '/w'), '?????????? ?        ?                 0 ????-??-?? ??:?? /w\n')
  t.equal(f.entry({ type: 'symlink', mode: '0777', uid: 0, gid: 0, mtimeNs: '1', targetB64: '/w==' }, Buffer.from([0x2f, 0xff])),
    'lrwxrwxrwx 0        0                 0 1970-01-01 00:00 /\\xff -> \\xff\n', 'a path and a target that are not UTF-8')
  t.equal(f.snapshot({ type: 'snapshot', name: 'db', size: 42, startedAt: '2026-11-26T08:00:05.123Z' }),
    'snapshot   -        -                42 2026-11-26 08:00 snapshot:db\n')
  t.equal(f.snapshot({ type: 'snapshot', name: 'far', size: 1, startedAt: '+010000-01-01T00:00:00.000Z' }),
    'snapshot   -        -                 1 +010000-01-01 00:00 snapshot:far\n', 'a year past 9999')
})
