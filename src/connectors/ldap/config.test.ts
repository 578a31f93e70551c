import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withSecretContext } from '../../fields/secret-ref.ts';
import { Secret } from '../../core/secret.ts';
import { DEFAULT_FILTERS, ldapConfigSchema } from './config.ts';

const BIND_PW = 'not-a-real-password';
const PIN = `sha256/${'A'.repeat(43)}=`;

const LDAP = { url: 'ldaps://dc1.example.org', bindDn: 'cn=pwsync,ou=services,dc=example,dc=org', bindPassword: '${LDAP_PW}', baseDns: ['ou=people,dc=example,dc=org'] };

/** The `ldap:` block alone, as the configuration's schema validates it under a system's `ldap` key. */
function parse(ldap: Record<string, unknown>) {
  const created: Secret[] = [];
  return withSecretContext({ env: { LDAP_PW: BIND_PW }, baseDir: '/', created }, () => ldapConfigSchema.safeParse({ ...LDAP, ...ldap }));
}

function ldapOf(ldap: Record<string, unknown>) {
  const result = parse(ldap);
  if (!result.success) assert.fail(`refused: ${JSON.stringify(result.error.issues)}`);
  return result.data;
}

/** The paths of the issues, dotted, from the system (`ldap.…`). */
function refused(ldap: Record<string, unknown>): string[] {
  const result = parse(ldap);
  if (result.success) assert.fail(`expected ${JSON.stringify(ldap)} to be refused`);
  return result.error.issues.map((i) => ['ldap', ...i.path].join('.'));
}

void describe('ldap connector configuration', () => {
  void test('defaults', () => {
    const config = ldapOf({});
    assert.equal(config.flavor, 'openldap');
    assert.equal(config.scope, 'sub');
    assert.equal(config.pageSize, 500);
    assert.equal(config.connections, 2);
    assert.equal(config.passwordMethod, 'exop');
    assert.equal(config.passwordAttribute, 'userPassword');
    assert.equal(config.checkBeforeWrite, false);
    assert.equal(config.insecurePlaintext, false);
    assert.equal(config.timeout, 10_000);
    assert.equal(config.deltaOverlap, 10 * 60_000);
    assert.equal(config.filter, undefined);
    assert.deepEqual(config.tls, { rejectUnauthorized: true, pins: [] });
  });

  void test('the bind password is a Secret resolved from its reference, never the text itself', () => {
    const config = ldapOf({});
    assert.ok(config.bindPassword instanceof Secret);
    assert.equal(config.bindPassword.useSync((clear) => clear.toString('utf8')), BIND_PW);
    assert.equal(JSON.stringify(config).includes(BIND_PW), false);
  });

  void test('an inline bind password is refused: secrets only by reference', () => {
    assert.deepEqual(refused({ bindPassword: BIND_PW }), ['ldap.bindPassword']);
    assert.deepEqual(refused({ bindPassword: '${UNSET_VARIABLE_FOR_TEST}' }), ['ldap.bindPassword']);
  });

  void test('values given are kept', () => {
    const config = ldapOf({
      url: 'ldap://dc1.example.org:389',
      flavor: 'ad',
      scope: 'one',
      pageSize: 1000,
      connections: 4,
      filter: '(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
      timeout: '30s',
      checkBeforeWrite: true,
      tls: { ca: 'ca.pem', pins: [PIN] },
    });
    assert.equal(config.flavor, 'ad');
    assert.equal(config.scope, 'one');
    assert.equal(config.pageSize, 1000);
    assert.equal(config.connections, 4);
    assert.equal(config.timeout, 30_000);
    assert.equal(config.checkBeforeWrite, true);
    assert.deepEqual(config.tls, { ca: 'ca.pem', rejectUnauthorized: true, pins: [PIN] });
    assert.equal(DEFAULT_FILTERS.ad, '(&(objectCategory=person)(objectClass=user))');
  });

  void test('a url that is not ldap:// or ldaps://host[:port] is refused', () => {
    for (const url of ['http://dc1.example.org', 'ldapi:///var/run/slapd/ldapi', 'dc1.example.org', 'ldap://', 'ldaps://dc1.example.org/dc=example,dc=org', 'ldap://dc1.example.org?cn', '']) {
      assert.deepEqual(refused({ url }), ['ldap.url'], url);
    }
    ldapOf({ url: 'ldap://[::1]:389' });
    ldapOf({ url: 'LDAPS://DC1.example.org:636/' });
  });

  void test('insecurePlaintext contradicts ldaps://, whatever its case', () => {
    assert.deepEqual(refused({ url: 'ldaps://dc1.example.org', insecurePlaintext: true }), ['ldap.insecurePlaintext']);
    assert.deepEqual(refused({ url: 'LDAPS://dc1.example.org', insecurePlaintext: true }), ['ldap.insecurePlaintext']);
    assert.equal(ldapOf({ url: 'ldap://dc1.example.org', insecurePlaintext: true }).insecurePlaintext, true);
  });

  void test('Active Directory takes no hash', () => {
    assert.deepEqual(refused({ flavor: 'ad', passwordMethod: 'hash' }), ['ldap.passwordMethod']);
    assert.equal(ldapOf({ flavor: 'openldap', passwordMethod: 'hash' }).passwordMethod, 'hash');
    assert.equal(ldapOf({ flavor: '389ds', passwordMethod: 'hash' }).passwordMethod, 'hash');
    assert.deepEqual(refused({ flavor: 'samba' }), ['ldap.flavor']);
  });

  void test('a base inside another is refused at the inner one, whatever the case and spaces', () => {
    assert.deepEqual(refused({ baseDns: ['dc=x', 'ou=a,dc=x'] }), ['ldap.baseDns.1']);
    assert.deepEqual(refused({ baseDns: ['ou=a,dc=x', 'dc=x'] }), ['ldap.baseDns.0']);
    assert.deepEqual(refused({ baseDns: ['DC=X', 'ou=a, dc = x'] }), ['ldap.baseDns.1']);
    assert.deepEqual(refused({ baseDns: ['dc=example,dc=org', 'OU=People,DC=Example,DC=Org', 'ou=groups,dc=example,dc=org'] }), ['ldap.baseDns.1', 'ldap.baseDns.2']);
  });

  void test('a base twice is refused at its second appearance', () => {
    assert.deepEqual(refused({ baseDns: ['ou=a,dc=x', 'ou=a,dc=x'] }), ['ldap.baseDns.1']);
    assert.deepEqual(refused({ baseDns: ['ou=a,dc=x', 'OU=A, DC=X'] }), ['ldap.baseDns.1']);
  });

  void test('siblings, and names that merely end alike, are not nested', () => {
    assert.deepEqual(ldapOf({ baseDns: ['ou=a,dc=x', 'ou=b,dc=x'] }).baseDns, ['ou=a,dc=x', 'ou=b,dc=x']);
    assert.deepEqual(ldapOf({ baseDns: ['dc=x', 'dc=ax'] }).baseDns, ['dc=x', 'dc=ax']);
    assert.deepEqual(ldapOf({ baseDns: ['ou=people,dc=a,dc=org', 'ou=people,dc=b,dc=org'] }).baseDns.length, 2);
  });

  void test('no base, or an empty or padded one, is refused', () => {
    assert.deepEqual(refused({ baseDns: [] }), ['ldap.baseDns']);
    assert.deepEqual(refused({ baseDns: [''] }), ['ldap.baseDns.0']);
    assert.deepEqual(refused({ baseDns: [' dc=x'] }), ['ldap.baseDns.0']);
    assert.deepEqual(refused({ bindDn: '' }), ['ldap.bindDn']);
    assert.deepEqual(refused({ bindDn: 'cn=a\n,dc=x' }), ['ldap.bindDn']);
  });

  void test('a filter that does not parse is refused', () => {
    for (const filter of ['(cn=a', '(cn=a(b)', '(cn=a))', '(cn=a\\2)', '(objectClass=person)x']) {
      assert.deepEqual(refused({ filter }), ['ldap.filter'], filter);
    }
    assert.equal(ldapOf({ filter: '(uid=a\\2a)' }).filter, '(uid=a\\2a)');
  });

  void test('a pin that is not sha256/ and 44 base64 characters is refused at its index', () => {
    assert.deepEqual(refused({ tls: { pins: [PIN, 'sha256/abc'] } }), ['ldap.tls.pins.1']);
    assert.deepEqual(refused({ tls: { pins: [`sha1/${'A'.repeat(27)}=`] } }), ['ldap.tls.pins.0']);
  });

  void test('failoverUrls must use the scheme of url', () => {
    assert.deepEqual(refused({ url: 'ldaps://dc1.example.org', failoverUrls: ['ldaps://dc2.example.org', 'ldap://dc3.example.org'] }), ['ldap.failoverUrls.1']);
    assert.deepEqual(refused({ failoverUrls: ['http://dc2.example.org'] }), ['ldap.failoverUrls.0']);
  });

  void test('pins with rejectUnauthorized false are refused: Node would never check them', () => {
    assert.deepEqual(refused({ tls: { rejectUnauthorized: false, pins: [PIN] } }), ['ldap.tls.pins']);
  });

  void test('bounds: pageSize, connections, timeout, passwordAttribute', () => {
    assert.deepEqual(refused({ pageSize: 0 }), ['ldap.pageSize']);
    assert.deepEqual(refused({ pageSize: 10_001 }), ['ldap.pageSize']);
    assert.deepEqual(refused({ pageSize: 1.5 }), ['ldap.pageSize']);
    assert.deepEqual(refused({ connections: 0 }), ['ldap.connections']);
    assert.deepEqual(refused({ connections: 33 }), ['ldap.connections']);
    assert.deepEqual(refused({ timeout: 0 }), ['ldap.timeout']);
    assert.deepEqual(refused({ timeout: 'soon' }), ['ldap.timeout']);
    assert.deepEqual(refused({ passwordAttribute: 'user password' }), ['ldap.passwordAttribute']);
    assert.deepEqual(refused({ scope: 'base' }), ['ldap.scope']);
  });

  void test('an unknown key is refused, in the block and in tls', () => {
    assert.deepEqual(refused({ bindPasword: '${LDAP_PW}' }), ['ldap']);
    assert.deepEqual(refused({ tls: { verify: false } }), ['ldap.tls']);
  });
});
