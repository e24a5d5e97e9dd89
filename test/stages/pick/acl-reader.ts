import t from 'tap'
import { execFileSync } from 'node:child_process'
import { symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { aclKey, findGetfacl, parseGetfacl, readAcls, unescapeName } from '../../../src/stages/pick/acl-reader.js'

const setfacl = (...args: (string | Buffer)[]) => execFileSync('setfacl', args as string[])

t.test('getfacl output: extended access ACLs, default ACLs, escaped names', async (t) => {
  const output = Buffer.concat([
    Buffer.from([
      '# file: /srv/with\\040space\\012and newline',
      '# owner: root',
      '# group: root',
      'user::rw-',
      'user:www-data:rwx\t#effective:r--',
      'group::r--',
      'mask::r--',
      'other::---',
      '',
      '# file: /srv/defaults-only',
      '# owner: root',
      '# group: root',
      '# flags: -s-',
      'user::rwx',
      'group::r-x',
      'other::r-x',
      'default:user::rwx',
      'default:group:staff:rwx',
      'default:group::r-x',
      'default:mask::rwx',
      'default:other::r-x',
      '',
      '# file: /srv/back\\\\slash',
      'user::rw-',
      'group::r--',
      'group:adm:r--',
      'mask::r--',
      'other::r--',
      '',
      '# file: /srv/bad',
    ].join('\n')),
    Buffer.from([0xff, 0x0a]),
    Buffer.from('user::rw-\nuser:1234:r--\ngroup::r--\nmask::r--\nother::r--\n\n'),
  ])
  const acls = parseGetfacl(output)
  t.same(acls.get('/srv/with space\nand newline'), { acl: 'user::rw-,user:www-data:rwx,group::r--,mask::r--,other::---' }, 'the #effective comment is not part of the ACL')
  t.same(acls.get('/srv/defaults-only'), { defaultAcl: 'user::rwx,group:staff:rwx,group::r-x,mask::rwx,other::r-x' }, 'a base access ACL is not reported')
  t.same(acls.get('/srv/back\\slash'), { acl: 'user::rw-,group::r--,group:adm:r--,mask::r--,other::r--' })
  t.same(acls.get(aclKey(Buffer.from([0x2f, 0x73, 0x72, 0x76, 0x2f, 0x62, 0x61, 0x64, 0xff]))), { acl: 'user::rw-,user:1234:r--,group::r--,mask::r--,other::r--' })
  t.equal(acls.size, 4)
})

t.test('unescaping names: \\\\ and octal escapes; other bytes as they are', async (t) => {
  t.same(unescapeName(Buffer.from('a\\012b\\134c\\\\d\\9\\')), Buffer.from('a\nb\\c\\d\\9\\'))
  t.same(unescapeName(Buffer.from('\\377')), Buffer.from([0xff]))
  const plain = Buffer.from('/etc/hosts')
  t.equal(unescapeName(plain), plain, 'no copy without a backslash')
})

t.test('aclKey: the UTF-8 path itself, else NUL and base64', async (t) => {
  t.equal(aclKey(Buffer.from('/etc/ü')), '/etc/ü')
  t.equal(aclKey(Buffer.from([0x2f, 0xff])), '\0L/8=')
})

t.test('findGetfacl looks on PATH', async (t) => {
  t.match(findGetfacl(process.env), /\/getfacl$/)
  t.equal(findGetfacl({ PATH: '/nonexistent:' }), null)
  t.equal(findGetfacl({}), null)
})

t.test('readAcls on real files, in one process, whatever the names', async (t) => {
  const dir = t.testdir({ plain: 'no acl', withacl: 'acl', dboth: {}, donly: {}, dplain: {} })
  const odd = [Buffer.from('new\nline'), Buffer.from([0x62, 0x61, 0x64, 0xff]), Buffer.from('back\\slash'), Buffer.from('tab\there')]
  const full = (name: string | Buffer) => Buffer.concat([Buffer.from(dir + '/'), Buffer.isBuffer(name) ? name : Buffer.from(name)])
  setfacl('-m', 'u:nobody:r', join(dir, 'withacl'))
  setfacl('-m', 'u:nobody:rwx', join(dir, 'dboth'))
  setfacl('-d', '-m', 'g:nogroup:rx', join(dir, 'dboth'))
  setfacl('-d', '-m', 'u:nobody:r', join(dir, 'donly'))
  for (const name of odd) {
    writeFileSync(full(name), '')
    // Node cannot pass a non-UTF-8 argument; the shell passes the bytes read from stdin.
    execFileSync('sh', ['-c', 'setfacl -m u:nobody:rw -- "$(cat)"'], { input: full(name) })
  }
  const names = ['plain', 'withacl', 'dboth', 'donly', 'dplain', ...odd, 'vanished']
  const input = Buffer.concat(names.map((n) => Buffer.concat([full(n), Buffer.from([0])])))
  const found = await readAcls(input, process.env)
  t.equal(found.unavailable, undefined)
  t.equal(found.acls.get(join(dir, 'plain')), undefined, 'no ACL beyond the mode bits: nothing')
  t.equal(found.acls.get(join(dir, 'dplain')), undefined)
  t.same(found.acls.get(join(dir, 'withacl')), { acl: 'user::rw-,user:nobody:r--,group::r--,mask::r--,other::r--' })
  t.same(found.acls.get(join(dir, 'dboth')), {
    acl: 'user::rwx,user:nobody:rwx,group::r-x,mask::rwx,other::r-x',
    defaultAcl: 'user::rwx,group::r-x,group:nogroup:r-x,mask::r-x,other::r-x',
  })
  t.same(found.acls.get(join(dir, 'donly')), { defaultAcl: 'user::rwx,user:nobody:r--,group::r-x,mask::r-x,other::r-x' },
    '--skip-base prints a directory with only a default ACL; its access ACL is base and not reported')
  for (const name of odd) {
    t.same(found.acls.get(aclKey(full(name))), { acl: 'user::rw-,user:nobody:rw-,group::r--,mask::rw-,other::r--' }, `ACL of ${JSON.stringify(name.toString('latin1'))}`)
  }
  t.match(found.problems, [/vanished: No such file or directory/])
})

t.test('readAcls says so when xargs or getfacl cannot be run', async (t) => {
  const empty = t.testdir({})
  const noXargs = await readAcls(Buffer.from('/etc/hosts\0'), { PATH: empty })
  t.match(noXargs.unavailable, /ENOENT/, 'xargs is missing')
  symlinkSync('/usr/bin/xargs', join(empty, 'xargs'))
  const noGetfacl = await readAcls(Buffer.from('/etc/hosts\0'), { PATH: empty })
  t.match(noGetfacl.unavailable, /getfacl/, 'getfacl is missing')
  t.equal(noGetfacl.acls.size, 0)
})
