/*
 * The LDAP scope against a private slapd (test/support/slapd.ts): OpenLDAP groupOfNames with
 * nesting and a cycle, and AD-shaped entries (objectSid, primaryGroupID, class `group`) from a small
 * schema of the test's own, to check the primary-group rule without a domain controller.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Change, Client, Attribute } from 'ldapts';
import { withSecretContext } from '../../fields/secret-ref.ts';
import { InvalidInputError, TransientError } from '../../core/errors.ts';
import { createLogger, silentLogger, type Logger } from '../../log/logger.ts';
import { startSlapd, type Slapd } from '../../../test/support/slapd.ts';
import { sidFromString } from '../../ldap-client/ad.ts';
import { scopeConfigSchema } from './config.ts';
import { ScopeConfigError, ScopeLookupError } from './errors.ts';
import { openScope, type Scope } from './scope.ts';

const BASE = 'dc=pwsync,dc=test';
const PEOPLE = `ou=people,${BASE}`;
const GROUPS = `ou=groups,${BASE}`;
const READER_PASSWORD = 'reader-Pa55word!';
const DOMAIN = 'S-1-5-21-1111-2222-3333';
const DEPTH = 34;
const DOLLAR_NAMES = ['x$`', 'y$&', "z$'", 'w$$', 'v$1'];

/** AD's attributes with the matching rules AD gives them (Debian's msuser.schema has none). */
const AD_SCHEMA = `
attributetype ( 1.2.840.113556.1.4.146 NAME 'objectSid' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.98 NAME 'primaryGroupID' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL MUST cn MAY ( member $ objectSid $ description ) )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP inetOrgPerson STRUCTURAL MAY ( objectSid $ primaryGroupID $ sAMAccountName ) )
`;

const sid = (rid: number): string => sidFromString(`${DOMAIN}-${rid}`).toString('base64');
const person = (uid: string, extra = ''): string => `dn: uid=${uid},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\n${extra}`;
const group = (cn: string, members: readonly string[], ou = GROUPS): string =>
  `dn: cn=${cn},${ou}\nobjectClass: groupOfNames\ncn: ${cn}\n${(members.length > 0 ? members : ['']).map((m) => `member: ${m}`).join('\n')}\n`;
const user = (uid: string) => `uid=${uid},${PEOPLE}`;
const grp = (cn: string) => `cn=${cn},${GROUPS}`;
const adUser = (name: string, rid: number, primary: number): string =>
  `dn: cn=${name},${PEOPLE}\nobjectClass: user\ncn: ${name}\nsn: ${name}\nsAMAccountName: ${name}\nobjectSid:: ${sid(rid)}\nprimaryGroupID: ${primary}\n`;
const adGroup = (cn: string, rid: number, members: readonly string[]): string =>
  `dn: cn=${cn},${GROUPS}\nobjectClass: group\ncn: ${cn}\nobjectSid:: ${sid(rid)}\n${members.map((m) => `member: ${m}`).join('\n')}\n`;

/** Plain OpenLDAP: core, cosine, inetorgperson and nis schemas only. */
const OPENLDAP_LDIF = [
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
  `dn: ou=other,${BASE}\nobjectClass: organizationalUnit\nou: other\n`,
  person('reader', `userPassword: ${READER_PASSWORD}\n`),
  ...['alice', 'bob', 'carol', 'dave', 'grace'].map((u) => person(u)),
  // Names that a string replacement would read as patterns ($` $& $' $$).
  ...DOLLAR_NAMES.map((u) => person(u)),
  group('dollars', DOLLAR_NAMES.map(user)),
  group('team-a', [user('alice'), user('bob')]),
  group('staff', [grp('team-a')]),
  group('admins', [user('bob')]),
  group('cycle-1', [user('dave'), grp('cycle-2')]),
  group('cycle-2', [grp('cycle-1')]),
  group('empty', []),
  group('twin', [user('carol')]),
  group('twin', [user('carol')], `ou=other,${BASE}`),
  ...Array.from({ length: DEPTH + 1 }, (_, i) => group(`deep-${i}`, [i === 0 ? user('grace') : grp(`deep-${i - 1}`)])),
];

/** Needs AD_SCHEMA. */
const AD_LDIF = [
  // Active Directory's shape: "Domain Users" lists no member; users are in it by primaryGroupID.
  adGroup('Domain Users', 513, []),
  adGroup('Domain Admins', 512, [`cn=frank,${PEOPLE}`]),
  adGroup('AD Staff', 1200, [`cn=Domain Users,${GROUPS}`]),
  adGroup('Empty AD', 1300, []),
  adUser('erin', 1105, 513),
  adUser('frank', 1106, 513),
];

type ScopeInput = Record<string, unknown>;

/** The `ldap` block for `server`: StartTLS with the test CA, bound as the read-only `reader`. */
function ldapConfig(server: Slapd, ldap: Record<string, unknown> = {}): Record<string, unknown> {
  return { url: server.url, bindDn: user('reader'), bindPassword: '${SCOPE_TEST_BIND_PW}', baseDn: BASE, tls: { ca: server.caFile }, ...ldap };
}

/** Parses a scope configuration as the loader would (secret references resolved) and opens it. */
async function open(input: ScopeInput, options: { password?: string; log?: Logger } = {}): Promise<Scope> {
  const env = { SCOPE_TEST_BIND_PW: options.password ?? READER_PASSWORD };
  const config = withSecretContext({ env, baseDir: tmpdir(), created: [] }, () => scopeConfigSchema.parse(input));
  return openScope(config, { log: options.log ?? silentLogger(), baseDir: tmpdir() });
}

async function startError(input: ScopeInput, password?: string): Promise<ScopeConfigError> {
  try {
    const scope = await open(input, password === undefined ? {} : { password });
    await scope.close();
  } catch (e) {
    assert.ok(e instanceof ScopeConfigError, `expected a ScopeConfigError, got ${inspect(e)}`);
    assert.equal(e.code, 'ERR_SCOPE_CONFIG');
    assert.equal(e.retryable, false);
    return e;
  }
  assert.fail('the scope opened');
}

const problems = (e: ScopeConfigError) => e.problems.map((p) => `${p.code} ${p.list ?? '-'} ${p.group ?? '-'}`);

let server: Slapd;

before(async () => {
  server = await startSlapd({ baseDn: BASE, ldif: [...OPENLDAP_LDIF, ...AD_LDIF], extraSchema: AD_SCHEMA, tls: true });
});

after(async () => {
  await server.stop();
});

async function withScope(input: ScopeInput, fn: (scope: Scope) => Promise<void>): Promise<void> {
  const scope = await open(input);
  try {
    await fn(scope);
  } finally {
    await scope.close();
  }
}

void describe('LDAP scope: membership', () => {
  void test('nested include: alice is in team-a, team-a is in staff → in scope; carol is in neither', async () => {
    await withScope({ include: ['staff'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
      assert.deepEqual(await scope.decide('carol'), { inScope: false, reason: 'not a member of any include group (staff)' });
      assert.match(scope.describe(), /include \[staff\], exclude \[\].*StartTLS/);
    });
  });

  void test('exclude wins over include', async () => {
    await withScope({ include: ['staff'], exclude: ['admins'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.deepEqual(await scope.decide('bob'), { inScope: false, reason: 'member of exclude group "admins"' });
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
    });
  });

  void test('a cycle between groups ends: reached through it, and walked around without a match', async () => {
    await withScope({ include: ['cycle-2'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.deepEqual(await scope.decide('dave'), { inScope: true });
    });
    await withScope({ include: ['staff'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.equal((await scope.decide('dave')).inScope, false);
    });
    await withScope({ exclude: ['cycle-1'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.equal((await scope.decide('dave')).inScope, false);
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
    });
  });

  void test('deep nesting is followed up to the cap; beyond it the answer is an error, not a guess', async () => {
    await withScope({ include: ['deep-20'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.deepEqual(await scope.decide('grace'), { inScope: true });
    });
    await withScope({ include: [`deep-${DEPTH}`], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      const e = await scope.decide('grace').then(() => undefined, (err: unknown) => err);
      assert.ok(e instanceof ScopeLookupError);
      assert.equal(e.retryable, false);
    });
  });

  void test('an account that is not in the directory is out of scope, with the reason; a malformed one is refused', async () => {
    await withScope({ exclude: ['admins'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      const decision = await scope.decide('nobody-here');
      assert.ok(!decision.inScope);
      assert.match(decision.reason, /"nobody-here" is not in the directory/);
      // Filter syntax in a name is escaped, not interpreted: `*` does not match everyone.
      assert.equal((await scope.decide('*')).inScope, false);
      assert.equal((await scope.decide('alice)(uid=*')).inScope, false);
      await assert.rejects(scope.decide(''), InvalidInputError);
      await assert.rejects(scope.decide('a\nb'), InvalidInputError);
    });
  });

  void test('an account with "$" patterns in its name is looked up by that name: no template spliced in, no reconnect', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (line: string) => lines.push(line) } });
    const scope = await open({ include: ['dollars'], directory: { ldap: ldapConfig(server, { cacheTtl: 0 }) } }, { log });
    try {
      for (const name of DOLLAR_NAMES) assert.deepEqual(await scope.decide(name), { inScope: true }, name);
      assert.deepEqual(await scope.decide('alice'), { inScope: false, reason: 'not a member of any include group (dollars)' });
      assert.equal((await scope.decide('q$`')).inScope, false);
    } finally {
      await scope.close();
    }
    assert.deepEqual(lines.filter((l) => /reconnecting/.test(l)), []);
  });

  void test('a userFilter that cannot be built for an account is a final refusal, not a lost connection', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (line: string) => lines.push(line) } });
    // The placeholder where an attribute name goes: escaping cannot make every name fit there.
    const scope = await open({ include: ['staff'], directory: { ldap: ldapConfig(server, { cacheTtl: 0, userFilter: '(|(uid={account})({account}=*))' }) } }, { log });
    try {
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
      const e = await scope.decide('a b').then(() => undefined, (err: unknown) => err);
      assert.ok(e instanceof ScopeLookupError, `expected a ScopeLookupError, got ${inspect(e)}`);
      assert.equal(e.retryable, false);
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
    } finally {
      await scope.close();
    }
    assert.deepEqual(lines.filter((l) => /reconnecting|connection lost/.test(l)), []);
  });

  void test('AD primary group: "Domain Users" has no member values but is not empty; nesting through it works', async () => {
    await withScope({ include: ['Domain Users'], exclude: ['Domain Admins'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.deepEqual(await scope.decide('erin'), { inScope: true });
      assert.deepEqual(await scope.decide('frank'), { inScope: false, reason: 'member of exclude group "Domain Admins"' });
      assert.equal((await scope.decide('alice')).inScope, false);
    });
    await withScope({ include: ['AD Staff'], directory: { ldap: ldapConfig(server) } }, async (scope) => {
      assert.deepEqual(await scope.decide('erin'), { inScope: true });
    });
  });
});

void describe('LDAP scope: checked at start', () => {
  void test('a missing include group is a start error naming the group and its list', async () => {
    const e = await startError({ include: ['staff', 'no-such-group'], directory: { ldap: ldapConfig(server) } });
    assert.deepEqual(problems(e), ['GROUP_NOT_FOUND include no-such-group']);
    assert.match(e.message, /include group "no-such-group" does not exist/);
  });

  void test('a missing exclude group is a start error, not a scope that silently filters everything', async () => {
    const e = await startError({ include: ['staff'], exclude: ['Domain Admns'], directory: { ldap: ldapConfig(server) } });
    assert.deepEqual(problems(e), ['GROUP_NOT_FOUND exclude Domain Admns']);
  });

  void test('an include group without members is a start error; every problem is listed at once', async () => {
    const e = await startError({ include: ['empty', 'Empty AD', 'gone', 'twin'], exclude: ['gone-too'], directory: { ldap: ldapConfig(server) } });
    assert.deepEqual(problems(e), ['GROUP_EMPTY include empty', 'GROUP_EMPTY include Empty AD', 'GROUP_NOT_FOUND include gone', 'GROUP_AMBIGUOUS include twin', 'GROUP_NOT_FOUND exclude gone-too']);
  });

  void test('an exclude group without members is fine, and logged at info', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } });
    const scope = await open({ include: ['staff'], exclude: ['empty', 'Empty AD'], directory: { ldap: ldapConfig(server) } }, { log });
    try {
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
    } finally {
      await scope.close();
    }
    const records = lines.map((l) => JSON.parse(l) as { level: string; msg: string; group?: string });
    assert.deepEqual(records.filter((r) => r.msg === 'exclude group has no members').map((r) => [r.level, r.group]), [['info', 'empty'], ['info', 'Empty AD']]);
  });

  void test('a refused bind is a start error that does not carry the password', async () => {
    const wrong = 'Wr0ng-but-secret-42';
    const e = await startError({ include: ['staff'], directory: { ldap: ldapConfig(server) } }, wrong);
    assert.deepEqual(problems(e), ['BIND_REFUSED - -']);
    for (const text of [e.message, inspect(e, { depth: 10 }), JSON.stringify(e.problems)]) assert.equal(text.includes(wrong), false);
  });

  void test('a base DN that does not exist is a start error', async () => {
    const e = await startError({ include: ['staff'], directory: { ldap: ldapConfig(server, { baseDn: `ou=nowhere,${BASE}` }) } });
    assert.deepEqual(problems(e), ['DIRECTORY_REFUSED - -']);
  });

  void test('TLS: StartTLS needs a trusted certificate; ldaps:// works; plaintext only when asked for loudly', async () => {
    const untrusted = await startError({ include: ['staff'], directory: { ldap: ldapConfig(server, { tls: {} }) } });
    assert.deepEqual(problems(untrusted), ['TLS_FAILED - -']);
    const ldaps = { url: server.ldapsUrl };
    await withScope({ include: ['staff'], directory: { ldap: ldapConfig(server, ldaps) } }, async (scope) => {
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
      assert.match(scope.describe(), /\(ldaps\)/);
    });
    await withScope({ include: ['staff'], directory: { ldap: ldapConfig(server, { tls: {}, insecurePlaintext: true }) } }, async (scope) => {
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
    });
  });
});

void describe('LDAP scope: the directory at decision time', () => {
  // This server has no AD attributes in its schema: the default filters and attributes still work.
  void test('a stopped server makes decide throw a retryable error; after it is back, decisions resume', async () => {
    const own = await startSlapd({ baseDn: BASE, ldif: OPENLDAP_LDIF, tls: true });
    try {
      await withScope({ include: ['staff'], directory: { ldap: ldapConfig(own, { cacheTtl: 0, timeout: '3s' }) } }, async (scope) => {
        assert.deepEqual(await scope.decide('alice'), { inScope: true });
        await own.kill();
        for (const account of ['alice', 'carol']) {
          const e = await scope.decide(account).then(() => undefined, (err: unknown) => err);
          assert.ok(e instanceof TransientError, `expected a TransientError, got ${inspect(e)}`);
          assert.equal(e.retryable, true);
          assert.equal(e.code, 'ERR_TRANSIENT');
        }
        await own.restart();
        assert.deepEqual(await scope.decide('alice'), { inScope: true });
        // A restart closes the StartTLS connection the scope holds. ldapts alone would not notice
        // (it watches the plain socket under TLS) and wait out the timeout; the scope reconnects at once.
        await own.restart();
        const started = Date.now();
        assert.deepEqual(await scope.decide('carol'), { inScope: false, reason: 'not a member of any include group (staff)' });
        assert.ok(Date.now() - started < 2000, `reconnecting took ${Date.now() - started} ms`);
      });
    } finally {
      await own.stop();
    }
  });

  void test('an unreachable directory at start is retryable, not a configuration problem', async () => {
    const own = await startSlapd({ baseDn: BASE });
    const config = ldapConfig(own, { tls: {}, insecurePlaintext: true, timeout: '1s' });
    await own.stop();
    await assert.rejects(open({ include: ['staff'], directory: { ldap: config } }), (e: unknown) => e instanceof TransientError && e.retryable);
  });

  void test('failoverUrls: a directory server that cannot be reached is passed over for the next', async () => {
    const config = ldapConfig(server, { url: 'ldap://127.0.0.1:9', failoverUrls: [server.url], timeout: '2s' });
    await withScope({ include: ['staff'], directory: { ldap: config } }, async (scope) => {
      assert.deepEqual(await scope.decide('alice'), { inScope: true });
    });
  });

  void test('results are cached for cacheTtl; with 0 a membership change is seen at once', async () => {
    const own = await startSlapd({ baseDn: BASE, ldif: OPENLDAP_LDIF });
    const admin = new Client({ url: own.url });
    try {
      await admin.bind(own.adminDn, own.adminPassword);
      const config = (cacheTtl: string) => ({ include: ['staff'], directory: { ldap: ldapConfig(own, { tls: {}, insecurePlaintext: true, cacheTtl }) } });
      const cached = await open(config('1h'));
      const fresh = await open(config('0s'));
      try {
        assert.deepEqual(await cached.decide('alice'), { inScope: true });
        assert.deepEqual(await fresh.decide('alice'), { inScope: true });
        await admin.modify(grp('team-a'), new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [user('alice')] }) }));
        assert.deepEqual(await cached.decide('alice'), { inScope: true });
        assert.equal((await fresh.decide('alice')).inScope, false);
      } finally {
        await cached.close();
        await fresh.close();
      }
    } finally {
      await admin.unbind();
      await own.stop();
    }
  });
});
