import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, linkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compareTrees } from '../helpers/tree-compare.js'
import { makeSampleTree } from '../helpers/sample-tree.js'

// The round-trip tests rest on this comparison: it must see every kind of difference.
t.test('the tree comparison of the round-trip tests sees every difference', async (t) => {
  const dir = t.testdir({})
  const a = join(dir, 'a')
  makeSampleTree(a, 4096)
  const b = join(dir, 'b')
  execFileSync('cp', ['-a', a, b])
  t.same(await compareTrees(a, b), [], 'cp -a makes an identical copy')

  chmodSync(join(b, 'bin/setuid-tool'), 0o755)
  chownSync(join(b, 'etc/odd-owner'), 0, 0)
  utimesSync(join(b, 'etc/plain.conf'), 1_600_000_000, 1_600_000_000)
  writeFileSync(join(b, 'etc/empty'), 'x')
  execFileSync('setfacl', ['-b', join(b, 'etc/acl-file')])
  execFileSync('setfacl', ['-k', join(b, 'shared')])
  unlinkSync(join(b, 'links/b/h2'))
  writeFileSync(join(b, 'links/b/h2'), readFileSyncText(join(a, 'links/a/h1')))
  unlinkSync(join(b, 'sym/relative'))
  execFileSync('ln', ['-s', '../etc/other', join(b, 'sym/relative')])
  writeFileSync(join(b, 'extra'), '')
  linkSync(join(b, 'etc/secret'), join(b, 'etc/secret-link'))
  const diffs = (await compareTrees(a, b)).join('\n')
  for (const expected of [
    /"bin\/setuid-tool": mode expected 4755, got 755/, /"etc\/odd-owner": uid expected 23456, got 0/, /"etc\/plain.conf": mtimeNs expected/,
    /"etc\/empty": size expected 0, got 1/, /"etc\/empty": sha256 expected/, /"etc\/acl-file": acl expected user::rw-,user:nobody:r--/,
    /"shared": default acl expected/, /"links\/b\/h2": nlink expected 3, got 1/, /"links\/b\/h2": hard-link group expected links\/h3, got links\/b\/h2/,
    /"sym\/relative": target expected \.\.\/etc\/plain\.conf, got \.\.\/etc\/other/, /"extra": not expected, but restored/, /"etc\/secret-link": not expected/,
  ]) t.match(diffs, expected)
})

function readFileSyncText(path: string): string {
  return execFileSync('cat', [path], { encoding: 'utf8' })
}
