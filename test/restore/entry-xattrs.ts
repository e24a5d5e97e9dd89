import t from 'tap'
import { EntryError, parseEntry } from '../../src/restore/restore-entry.js'

const file = (xattrs: unknown) => ({ type: 'file', path: '/etc/a', mode: '0644', uid: 0, gid: 0, mtimeNs: '1', size: 0, nlink: 1, xattrs })

t.test('a manifest entry\'s extended attributes: names to base64 values, checked', async (t) => {
  t.same(parseEntry(file({ 'security.capability': 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=', 'user.empty': '' })).xattrs,
    [['security.capability', 'AQAAAgAgAAAAAAAAAAAAAAAAAAA='], ['user.empty', '']])
  t.equal(parseEntry(file(undefined)).xattrs, undefined, 'none')
  const refused = (xattrs: unknown) => {
    try {
      parseEntry(file(xattrs))
      return 'accepted'
    } catch (err) {
      t.type(err, EntryError)
      t.equal((err as EntryError).path, '/etc/a', 'names the entry')
      return (err as Error).message
    }
  }
  t.equal(refused(['user.a', 'AA==']), '"xattrs" is not an object of names to base64 values')
  t.equal(refused('user.a'), '"xattrs" is not an object of names to base64 values')
  t.equal(refused({ 'user.a': 'not base64!' }), '"xattrs": the value of user.a is not base64')
  t.equal(refused({ 'user.a': 7 }), '"xattrs": the value of user.a is not base64')
  t.equal(refused({ nonamespace: 'AA==' }), '"xattrs": "nonamespace" is not an extended attribute name')
})
