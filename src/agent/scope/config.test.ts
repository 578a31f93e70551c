import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { withSecretContext } from '../../fields/secret-ref.ts';
import { Secret } from '../../core/secret.ts';
import { silentLogger } from '../../log/logger.ts';
import { primaryGroupSid, ridOf, sidFromString, sidToString } from '../../ldap-client/ad.ts';
import { scopeConfigSchema, type ScopeConfigInput } from './config.ts';
import { allScope, openScope } from './scope.ts';

const ENV = { SCOPE_BIND_PW: 'not-a-real-password' };

function parse(input: ScopeConfigInput | Record<string, unknown>) {
  return withSecretContext({ env: ENV, baseDir: tmpdir(), created: [] }, () => scopeConfigSchema.safeParse(input));
}

/** `path: message-free` summary of the issues, for comparing paths only. */
function paths(input: ScopeConfigInput | Record<string, unknown>): string[] {
  const result = parse(input);
  if (result.success) assert.fail('expected the configuration to be refused');
  return result.error.issues.map((i) => i.path.join('.'));
}

const ldap = { url: 'ldaps://dc1.example.org', bindDn: 'cn=reader,dc=example,dc=org', bindPassword: '${SCOPE_BIND_PW}', baseDn: 'dc=example,dc=org' };

void describe('scope configuration', () => {
  void test('defaults: no groups, no directory; LDAP defaults written once, in the schema', () => {
    const empty = parse({});
    assert.ok(empty.success);
    assert.deepEqual(empty.data, { include: [], exclude: [] });

    const full = parse({ include: ['Domain Users'], exclude: ['Domain Admins'], directory: { ldap } });
    assert.ok(full.success);
    const dir = full.data.directory;
    assert.ok(dir !== undefined && 'ldap' in dir);
    assert.equal(dir.ldap.userFilter, '(|(uid={account})(sAMAccountName={account}))');
    assert.equal(dir.ldap.groupNameAttribute, 'cn');
    assert.equal(dir.ldap.memberAttribute, 'member');
    assert.deepEqual(dir.ldap.tls, { rejectUnauthorized: true, pins: [] });
    assert.equal(dir.ldap.insecurePlaintext, false);
    assert.equal(dir.ldap.timeout, 5000);
    assert.equal(dir.ldap.cacheTtl, 60_000);
    assert.ok(dir.ldap.bindPassword instanceof Secret);
    assert.equal(JSON.stringify(full.data).includes(ENV.SCOPE_BIND_PW), false);

    const unix = parse({ include: ['staff'], directory: { unix: {} } });
    assert.ok(unix.success);
  });

  void test('empty, blank and padded group names are refused, in both lists', () => {
    assert.deepEqual(paths({ include: ['', 'ok'], exclude: ['  ', ' x'], directory: { unix: {} } }), ['include.0', 'exclude.0', 'exclude.1']);
  });

  void test('a group twice in a list, or in both lists, is refused', () => {
    assert.deepEqual(paths({ include: ['a', 'a'], directory: { unix: {} } }), ['include.1']);
    assert.deepEqual(paths({ include: ['a'], exclude: ['a'], directory: { unix: {} } }), ['exclude.0']);
  });

  void test('groups without a directory to resolve them are refused', () => {
    assert.deepEqual(paths({ exclude: ['Domain Admins'] }), ['directory']);
  });

  void test('the bind password must be a reference, never inline', () => {
    assert.deepEqual(paths({ include: ['g'], directory: { ldap: { ...ldap, bindPassword: 'hunter2hunter2' } } }), ['directory.ldap.bindPassword']);
  });

  void test('LDAP settings are checked: url, filters, attribute names, durations, unknown keys', () => {
    const bad = paths({
      include: ['g'],
      directory: {
        ldap: {
          ...ldap,
          url: 'http://dc1',
          userFilter: '(uid=x)',
          groupFilter: '(objectClass=group',
          memberAttribute: 'member)(x=*',
          timeout: '0s',
          cacheTtl: 'soon',
          tls: { ca: '', rejectUnauthorized: true, verify: false },
        },
      },
    });
    assert.deepEqual(bad.sort(), [
      'directory.ldap.cacheTtl',
      'directory.ldap.groupFilter',
      'directory.ldap.memberAttribute',
      'directory.ldap.timeout',
      'directory.ldap.tls',
      'directory.ldap.tls.ca',
      'directory.ldap.url',
      'directory.ldap.userFilter',
    ].sort());
    assert.deepEqual(paths({ include: ['g'], directory: { ldap: { ...ldap, userFilter: '(uid={account}' } } }), ['directory.ldap.userFilter']);
    assert.deepEqual(paths({ include: ['g'], directory: { ldap: { ...ldap, insecurePlaintext: true } } }), ['directory.ldap.insecurePlaintext']);
    assert.deepEqual(paths({ include: ['g'], directory: { unix: { nss: true } } }), ['directory.unix']);
    assert.deepEqual(paths({ include: ['g'], directory: { unix: {}, ldap } }), ['directory']);
    assert.deepEqual(paths({ include: ['g'], directory: {} }), ['directory']);
  });
});

void describe('allScope', () => {
  void test('no include and no exclude group: everyone is in scope and no directory is asked', async () => {
    const config = parse({ directory: { ldap: { ...ldap, url: 'ldap://192.0.2.1:1', insecurePlaintext: true } } });
    assert.ok(config.success);
    const scope = await openScope(config.data, { log: silentLogger(), baseDir: tmpdir() });
    assert.equal(scope, allScope);
    assert.deepEqual(await scope.decide('anyone'), { inScope: true });
    await scope.close();
  });
});

void describe('AD SIDs', () => {
  void test('binary and string forms round-trip; the primary group SID swaps the RID', () => {
    const user = sidFromString('S-1-5-21-1111-2222-3333-1105');
    assert.equal(user.toString('hex'), '01050000000000051500000057040000ae080000050d000051040000');
    assert.equal(sidToString(user), 'S-1-5-21-1111-2222-3333-1105');
    const group = primaryGroupSid(user, 513);
    assert.ok(group);
    assert.equal(sidToString(group), 'S-1-5-21-1111-2222-3333-513');
    assert.equal(ridOf(group), 513);
    assert.equal(sidToString(user), 'S-1-5-21-1111-2222-3333-1105', 'the user SID is not changed');
    assert.equal(sidToString(Buffer.from([1, 2, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0])), undefined, 'truncated');
    assert.equal(primaryGroupSid(Buffer.alloc(3), 513), undefined);
    assert.throws(() => sidFromString('S-1-5-x'), RangeError);
  });
});
