import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { OwnerNames, readNames } from '../../../src/stages/pick/owner-names.js'

t.test('names come from the passwd and group files; the first name of an id wins', async (t) => {
  const dir = t.testdir({
    passwd: 'root:x:0:0:root:/root:/bin/bash\n+nis::::::\n# comment\ntoor:x:0:0::/:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbroken line\n',
    group: 'root:x:0:\nstaff:x:50:alice\n',
  })
  const names = new OwnerNames({ passwd: join(dir, 'passwd'), group: join(dir, 'group'), env: { PATH: '/nonexistent' } })
  t.equal(names.user(0), 'root')
  t.equal(names.user(1000), 'alice')
  t.equal(names.group(50), 'staff')
  t.equal(names.user(4242), undefined, 'unknown, and getent is not on PATH')
  t.same([...readNames(join(dir, 'passwd')).keys()], [0, 1000])
  t.same(readNames(join(dir, 'absent')).size, 0)
})

t.test('ids missing from the files are asked of getent once each', async (t) => {
  const dir = t.testdir({
    passwd: 'alice:x:1000:1000::/:/bin/sh\n',
    group: '',
    bin: {},
  })
  // A getent that logs its calls and knows uid 7000 and gid 8000.
  writeFileSync(join(dir, 'bin/getent'), '#!/bin/sh\necho "$1 $2" >> "$(dirname "$0")/calls"\n'
    + 'case "$1 $2" in "passwd 7000") echo "ldapuser:*:7000:7000::/:/bin/sh";; "group 8000") echo "ldapgroup:*:8000:";; *) exit 2;; esac\n', { mode: 0o755 })
  const names = new OwnerNames({ passwd: join(dir, 'passwd'), group: join(dir, 'group'), env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin` } })
  for (let i = 0; i < 3; i++) {
    t.equal(names.user(7000), 'ldapuser')
    t.equal(names.group(8000), 'ldapgroup')
    t.equal(names.user(7001), undefined)
    t.equal(names.user(1000), 'alice')
  }
  t.same(readFileSync(join(dir, 'bin/calls'), 'utf8').split('\n').filter(Boolean).sort(), ['group 8000', 'passwd 7000', 'passwd 7001'])
})

t.test('the real getent answers for ids the files do not list', async (t) => {
  const dir = t.testdir({ passwd: '', group: '' })
  const names = new OwnerNames({ passwd: join(dir, 'passwd'), group: join(dir, 'group'), env: process.env })
  t.equal(names.user(0), 'root')
  t.equal(names.group(0), 'root')
  t.equal(names.user(54321), undefined)
})
