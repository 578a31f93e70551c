import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { isPwsyncError } from '../../core/errors.ts';
import { Secret } from '../../core/secret.ts';
import { verifySecret } from '../../crypto/hash/index.ts';
import type { AccountRecord, Watermark } from '../types.ts';
import type { Dialect } from './named-params.ts';
import { READ_ONLY_USER, SET_PLAINTEXT, startSqlWorld, type SqlWorld } from '../../../test/support/connectors/sql.ts';
import { EVENT } from '../../core/events.ts';

async function withSecret<T>(text: string, fn: (secret: Secret) => Promise<T>): Promise<T> {
  const secret = Secret.fromString(text);
  try {
    return await fn(secret);
  } finally {
    secret.dispose();
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** The error `work` rejects with (it must reject). */
async function failure(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (e) {
    if (e instanceof Error) return e;
    throw e;
  }
  assert.fail('expected a failure');
}

const unique = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

/** The same cases for each database the connector speaks to. */
export function connectorTests(dialect: Dialect): void {
  describe(`sql connector against a private ${dialect} with TLS required`, () => {
    let world: SqlWorld;
    before(async () => (world = await startSqlWorld(dialect)));
    after(() => world.stop());

    test('testConnection: TLS verify-full, the service account, the import query runs', async () => {
      const c = world.connector();
      try {
        const report = await c.testConnection();
        assert.equal(report.ok, true, report.detail);
        assert.equal(report.secure, true);
        assert.match(report.identity, /^pwsync_svc@127\.0\.0\.1:\d+\/app$/);
      } finally {
        await c.close();
      }
    });

    test('import streams every row in batches, with the mapped columns as attributes', async () => {
      const logins = Array.from({ length: 25 }, (_, i) => unique(`imp${i}`));
      for (const login of logins) await world.addUser(login, `${login}@example.test`);
      const c = world.connector({}, { import: { anchor: 'id', map: { login: 'login', mail: 'email' }, batchSize: 7 } });
      try {
        const records = await collect(c.importAccounts());
        const mine = records.filter((r) => logins.includes(r.attributes['login'] ?? ''));
        assert.equal(mine.length, 25);
        for (const r of mine) {
          assert.match(r.anchor, /^\d+$/);
          assert.deepEqual(Object.keys(r.attributes).sort(), ['email', 'login']);
          assert.equal(r.attributes['email'], `${r.attributes['login'] ?? ''}@example.test`);
        }
      } finally {
        await c.close();
      }
    });

    test('sql.timeout bounds a delivery statement, not an import that reads longer', async () => {
      await world.addUser(unique('slow'));
      const slow = dialect === 'postgres'
        ? 'SELECT id, login, email FROM app_users, (SELECT pg_sleep(1.5)) AS z'
        : 'SELECT u.id, u.login, u.email FROM app_users u JOIN (SELECT SLEEP(1.5) AS z) AS z';
      const c = world.connector({ query: slow, timeout: '1s' });
      try {
        assert.ok((await collect(c.importAccounts())).length > 0, 'the import ran past sql.timeout');
        // The session is back to the timeout: a statement of a delivery that sleeps is stopped.
        const stuck = world.connector({ timeout: '1s', setPassword: { statement: dialect === 'postgres'
          ? 'UPDATE app_users SET password_hash = :hash WHERE id = :anchor AND pg_sleep(1.5) IS NOT NULL'
          : 'UPDATE app_users SET password_hash = :hash WHERE id = :anchor AND SLEEP(1.5) = 0' } });
        try {
          const anchor = await world.addUser(unique('stuck'));
          const e = await failure(withSecret('Some-Password-12', (s) => stuck.setPassword(anchor, s, {})));
          assert.ok(isPwsyncError(e) && e.retryable, `a statement stopped by the timeout is retried: ${e.message}`);
        } finally {
          await stuck.close();
        }
      } finally {
        await c.close();
      }
    });

    test('without a map every column is imported but password-like ones; times as ISO 8601 UTC', async () => {
      const login = unique('nomap');
      const anchor = await world.addUser(login);
      const c = world.connector({ query: 'SELECT id, login, email, password_hash, updated_at FROM app_users' }, { import: { anchor: 'id' } });
      try {
        const record = (await collect(c.importAccounts())).find((r) => r.anchor === anchor);
        assert.ok(record);
        assert.equal(record.attributes['login'], login);
        assert.equal('password_hash' in record.attributes, false);
        assert.equal('email' in record.attributes, false, 'a NULL is no attribute');
        assert.match(record.attributes['updated_at'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      } finally {
        await c.close();
      }
    });

    test('set with argon2id, bcrypt and PBKDF2, then verify; the stored hash is the format asked for', async () => {
      for (const [hash, prefix] of [['argon2id', '$argon2id$'], ['bcrypt', '$2b$'], ['pbkdf2-sha256', '$pbkdf2-sha256$']] as const) {
        const anchor = await world.addUser(unique(hash));
        const c = world.connector({}, { password: { sync: true, hash } });
        try {
          await withSecret('Nöw-Änother-Pässword-1', (s) => c.setPassword(anchor, s, {}));
          const stored = await world.storedHash(anchor);
          assert.ok(stored?.startsWith(prefix), `${hash}: ${stored ?? 'null'}`);
          assert.equal(await withSecret('Nöw-Änother-Pässword-1', (s) => verifySecret(stored ?? '', s)), true);
          assert.equal(await withSecret('Nöw-Änother-Pässword-1', (s) => c.verifyPassword(anchor, s)), true);
          assert.equal(await withSecret('wrong-password-1', (s) => c.verifyPassword(anchor, s)), false);
        } finally {
          await c.close();
        }
      }
    });

    test('must change at next logon: :mustChange is 1 when the reset asks for it, else 0', async () => {
      const anchor = await world.addUser(unique('must'));
      const c = world.connector({ setPassword: { statement: 'UPDATE app_users SET password_hash = :hash, must_change = :mustChange WHERE id = :anchor' } });
      const mustChange = async (): Promise<boolean> => {
        const rows = await world.exec(dialect === 'postgres' ? 'SELECT must_change FROM app_users WHERE id = $1' : 'SELECT must_change FROM app_users WHERE id = ?', [Number(anchor)]);
        return Boolean(rows[0]?.['must_change']);
      };
      try {
        await withSecret('Reset-By-Helpdesk-1', (s) => c.setPassword(anchor, s, { forceChangeAtNextLogon: true }));
        assert.equal(await mustChange(), true);
        await withSecret('Chosen-By-Person-1', (s) => c.setPassword(anchor, s, {}));
        assert.equal(await mustChange(), false);
      } finally {
        await c.close();
      }
    });

    test("a CHECK constraint that refuses the value is 6927, and the row keeps its hash", async () => {
      const anchor = await world.addUser(unique('check'));
      const good = world.connector();
      const weak = world.connector({}, { password: { sync: true, hash: '{SSHA}' } });
      try {
        await withSecret('Accepted-Passw0rd-1', (s) => good.setPassword(anchor, s, {}));
        const e = await failure(withSecret('Accepted-Passw0rd-2', (s) => weak.setPassword(anchor, s, {})));
        assert.ok(isPwsyncError(e) && e.event === EVENT.POLICY_REFUSED && !e.retryable, e.message);
        assert.match(e.message, /no_salted_sha1/);
        assert.equal(await withSecret('Accepted-Passw0rd-1', (s) => good.verifyPassword(anchor, s)), true);
      } finally {
        await good.close();
        await weak.close();
      }
    });

    test('a missing row is 6923, for set and verify', async () => {
      const c = world.connector();
      try {
        const set = await failure(withSecret('Some-Password-12', (s) => c.setPassword('999999999', s, {})));
        assert.ok(isPwsyncError(set) && set.event === EVENT.ACCOUNT_NOT_FOUND, set.message);
        const verify = await failure(withSecret('Some-Password-12', (s) => c.verifyPassword('999999999', s)));
        assert.ok(isPwsyncError(verify) && verify.event === EVENT.ACCOUNT_NOT_FOUND);
      } finally {
        await c.close();
      }
    });

    test('a statement that would change more than one row is refused and rolled back', async () => {
      const a = await world.addUser(unique('many-a'));
      const b = await world.addUser(unique('many-b'));
      const before = [await world.storedHash(a), await world.storedHash(b)];
      // A WHERE that is wrong: it matches every row whose id is at least the anchor.
      const c = world.connector({ setPassword: { statement: 'UPDATE app_users SET password_hash = :hash WHERE id >= :anchor' } });
      try {
        const e = await failure(withSecret('Some-Password-12', (s) => c.setPassword(a, s, {})));
        assert.ok(isPwsyncError(e) && e.code === 'ERR_TARGET_DATA' && !e.retryable, e.message);
        assert.match(e.message, /would have changed \d+ rows.*rolled back/);
        assert.deepEqual([await world.storedHash(a), await world.storedHash(b)], before);
      } finally {
        await c.close();
      }
    });

    test('one connection stays sound after every way a guarded write can end: refused, rolled back, missing, set', async () => {
      const a = await world.addUser(unique('sound-a'));
      await world.addUser(unique('sound-b'));
      const many = world.connector({ connections: 1, setPassword: { statement: 'UPDATE app_users SET password_hash = :hash WHERE id >= :anchor' } });
      const one = world.connector({ connections: 1 });
      const weak = world.connector({ connections: 1 }, { password: { sync: true, hash: '{SSHA}' } });
      try {
        for (let round = 0; round < 3; round++) {
          const rolledBack = await failure(withSecret(`Many-Rows-Passw0rd-${round}`, (s) => many.setPassword(a, s, {})));
          assert.equal(isPwsyncError(rolledBack) && rolledBack.code, 'ERR_TARGET_DATA', rolledBack.message);
          const missing = await failure(withSecret(`Missing-Passw0rd-${round}`, (s) => one.setPassword('999999999', s, {})));
          assert.equal(isPwsyncError(missing) && missing.event, EVENT.ACCOUNT_NOT_FOUND, missing.message);
          const refused = await failure(withSecret(`Refused-Passw0rd-${round}`, (s) => weak.setPassword(a, s, {})));
          assert.equal(isPwsyncError(refused) && refused.event, EVENT.POLICY_REFUSED, refused.message);
          // The same connection, next in line: each ending left it ready, with no transaction open.
          await withSecret(`Accepted-Passw0rd-${round}`, (s) => one.setPassword(a, s, {}));
          assert.equal(await withSecret(`Accepted-Passw0rd-${round}`, (s) => one.verifyPassword(a, s)), true);
          assert.equal(await withSecret(`Accepted-Passw0rd-${round}`, (s) => many.verifyPassword(a, s)), true);
        }
      } finally {
        await many.close();
        await one.close();
        await weak.close();
      }
    });

    if (dialect === 'postgres') {
      test('a deferred constraint that refuses at commit is 6927, and nothing is kept', async () => {
        const anchor = await world.addUser(unique('deferred'));
        const c = world.connector();
        await withSecret('Before-Deferred-Passw0rd', (s) => c.setPassword(anchor, s, {}));
        const before = await world.storedHash(anchor);
        // Checked at COMMIT, after the UPDATE reported its one row: the refusal comes with the commit.
        await world.exec(`CREATE OR REPLACE FUNCTION app_refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = 'refused at commit'; END $$`);
        await world.exec(`CREATE CONSTRAINT TRIGGER app_refuse_at_commit AFTER UPDATE ON app_users DEFERRABLE INITIALLY DEFERRED
          FOR EACH ROW WHEN (NEW.login LIKE 'deferred-%') EXECUTE FUNCTION app_refuse_at_commit()`);
        try {
          const e = await failure(withSecret('After-Deferred-Passw0rd', (s) => c.setPassword(anchor, s, {})));
          assert.ok(isPwsyncError(e) && e.event === EVENT.POLICY_REFUSED && !e.retryable, e.message);
          assert.match(e.message, /refused at commit/);
          assert.equal(await world.storedHash(anchor), before);
        } finally {
          await world.exec('DROP TRIGGER app_refuse_at_commit ON app_users');
          await c.close();
        }
      });
    }

    test('the database hashes the clear password itself (plaintext: true); its refusal is 6927 with the password cut out', async () => {
      const anchor = await world.addUser(unique('plain'));
      const c = world.connector({ setPassword: { statement: SET_PLAINTEXT, plaintext: true } });
      try {
        await withSecret('Long-Enough-Passw0rd', (s) => c.setPassword(anchor, s, {}));
        assert.equal(await withSecret('Long-Enough-Passw0rd', (s) => c.verifyPassword(anchor, s)), true);
        const e = await failure(withSecret('Shört-Pw1', (s) => c.setPassword(anchor, s, {})));
        assert.ok(isPwsyncError(e) && e.event === EVENT.POLICY_REFUSED && !e.retryable, e.message);
        assert.match(e.message, /too short/);
        assert.doesNotMatch(e.message, /Shört-Pw1/);
        assert.match(e.message, /\[redacted\]/);
        // Nothing was half-written: the earlier password still works.
        assert.equal(await withSecret('Long-Enough-Passw0rd', (s) => c.verifyPassword(anchor, s)), true);
      } finally {
        await c.close();
      }
    });

    test('a password that is not UTF-8 is its bytes: a hash over bytes holds exactly them; a text parameter (plaintext: true) refuses it with 6927, never U+FFFD', async () => {
      const anchor = await world.addUser(unique('bytes'));
      // "café" from a Latin-1 PAM stack: set at the source as these bytes, not as text.
      const latin1 = Buffer.from('caf\xe9-Secret1-Long-Enough', 'latin1');
      const replaced = 'caf\uFFFD-Secret1-Long-Enough';
      const hashed = world.connector({}, { password: { sync: true, hash: 'pbkdf2-sha256' } });
      try {
        await hashed.setPassword(anchor, Secret.fromBytes(latin1), {});
        const stored = await world.storedHash(anchor);
        assert.equal(await verifySecret(stored ?? '', Secret.fromBytes(latin1)), true, 'the hash is of the bytes captured');
        assert.equal(await withSecret(replaced, (s) => verifySecret(stored ?? '', s)), false, 'not of their U+FFFD reading');
      } finally {
        await hashed.close();
      }
      const before = await world.storedHash(anchor);
      const plain = world.connector({ setPassword: { statement: SET_PLAINTEXT, plaintext: true } });
      try {
        const e = await failure(plain.setPassword(anchor, Secret.fromBytes(latin1), {}));
        assert.ok(isPwsyncError(e) && e.code === 'ERR_POLICY' && e.event === EVENT.POLICY_REFUSED && !e.retryable, e.message);
        assert.match(e.message, /not valid UTF-8/);
        assert.equal(await world.storedHash(anchor), before, 'nothing was written');
      } finally {
        await plain.close();
      }
    });

    test('hostile anchors and values stay values: quotes, semicolons, comment marks, placeholders', async () => {
      const hostile = ["1' OR '1'='1", '1; DROP TABLE app_users; --', '1 /* :hash */', '$1', '?', ':anchor', "'; SELECT pg_sleep(5); --"];
      const c = world.connector({ setPassword: { statement: 'UPDATE app_users SET password_hash = :hash WHERE login = :anchor' } });
      try {
        for (const anchor of hostile) {
          const e = await failure(withSecret('Some-Password-12', (s) => c.setPassword(anchor, s, {})));
          assert.ok(isPwsyncError(e) && e.event === EVENT.ACCOUNT_NOT_FOUND, `${anchor}: ${e.message}`);
        }
        // A row whose login is itself hostile is found by that exact value, and only it changes.
        const login = "o'brien; -- :hash";
        const id = await world.addUser(login);
        await withSecret('Some-Password-12', (s) => c.setPassword(login, s, {}));
        assert.ok((await world.storedHash(id))?.startsWith('$2b$'));
        assert.equal((await world.exec('SELECT count(*) AS n FROM app_users'))[0]?.['n'] !== undefined, true, 'the table is still there');
      } finally {
        await c.close();
      }
    });

    test('a service account without the UPDATE grant is 7014; a wrong service password is 7013', async () => {
      const anchor = await world.addUser(unique('grant'));
      const ro = world.connector({ user: READ_ONLY_USER });
      try {
        const e = await failure(withSecret('Some-Password-12', (s) => ro.setPassword(anchor, s, {})));
        assert.ok(isPwsyncError(e) && e.event === EVENT.ACCESS_DENIED && !e.retryable, e.message);
      } finally {
        await ro.close();
      }
      const wrong = world.connector({ user: 'nobody_here' });
      try {
        const e = await failure(withSecret('Some-Password-12', (s) => wrong.setPassword(anchor, s, {})));
        assert.ok(isPwsyncError(e) && e.event === EVENT.SERVICE_CREDENTIALS_REFUSED && !e.retryable, e.message);
        assert.equal((await wrong.testConnection()).ok, false);
      } finally {
        await wrong.close();
      }
    });

    test('TLS: a CA that did not sign the certificate is 7005; a plain connection is refused by the server; disable is never secure', async () => {
      const anchor = await world.addUser(unique('tls'));
      // No `ca`: the system's CAs, which did not sign the test server's certificate.
      const untrusted = world.connector({ tls: { mode: 'verify-full' } });
      try {
        const e = await failure(withSecret('Some-Password-12', (s) => untrusted.setPassword(anchor, s, {})));
        assert.ok(isPwsyncError(e) && e.event === EVENT.INSECURE_CONNECTION, e.message);
      } finally {
        await untrusted.close();
      }
      if (dialect === 'postgres') {
        // The right CA, but a name the certificate does not have; verify-ca accepts it.
        const misnamed = world.connector({ tls: { ca: world.server.caFile, serverName: 'db.wrong.example' } });
        try {
          const e = await failure(withSecret('Some-Password-12', (s) => misnamed.setPassword(anchor, s, {})));
          assert.ok(isPwsyncError(e) && e.event === EVENT.INSECURE_CONNECTION, e.message);
        } finally {
          await misnamed.close();
        }
        const chainOnly = world.connector({ tls: { mode: 'verify-ca', ca: world.server.caFile, serverName: 'db.wrong.example' } });
        try {
          await withSecret('Some-Password-12', (s) => chainOnly.setPassword(anchor, s, {}));
        } finally {
          await chainOnly.close();
        }
      }
      // requireSecure off, TLS off: the connector tries, and the server refuses plain connections.
      const plain = world.connector({ tls: { mode: 'disable' } }, { password: { sync: true, hash: 'bcrypt', requireSecure: false } });
      try {
        assert.equal(plain.isSecure(), false);
        const e = await failure(withSecret('Some-Password-12', (s) => plain.setPassword(anchor, s, {})));
        assert.ok(isPwsyncError(e) && (e.event === EVENT.INSECURE_CONNECTION || e.event === EVENT.SERVICE_CREDENTIALS_REFUSED), e.message);
      } finally {
        await plain.close();
      }
      // requireSecure on (the default), TLS off: nothing is sent at all.
      const refused = world.connector({ tls: { mode: 'disable' } });
      try {
        const e = await failure(withSecret('Some-Password-12', (s) => refused.setPassword(anchor, s, {})));
        assert.ok(isPwsyncError(e) && e.event === EVENT.INSECURE_CONNECTION && /was not sent/.test(e.message), e.message);
      } finally {
        await refused.close();
      }
    });

    test('delta import: rows changed since the watermark, less the overlap', async () => {
      const c = world.connector({ deltaColumn: 'updated_at', deltaOverlap: '0s' });
      try {
        assert.ok(c.capabilities.has('deltaImport'));
        const old = await world.addUser(unique('old'));
        const mark = await c.watermark();
        await new Promise((r) => setTimeout(r, 20));
        const fresh = await world.addUser(unique('new'));
        await withSecret('Some-Password-12', (s) => c.setPassword(old, s, {}));
        const changed = (await collect(c.importChangesSince(mark))).map((d) => (d.kind === 'changed' ? d.record.anchor : `removed ${d.anchor}`));
        assert.ok(changed.includes(fresh), 'a row added since');
        assert.ok(changed.includes(old), 'a row updated since (its password)');
        const e = await failure(collect(c.importChangesSince('usn:1@x' as Watermark)));
        assert.ok(isPwsyncError(e) && e.code === 'ERR_WATERMARK');
      } finally {
        await c.close();
      }
    });

    test('login roles: set by a verifier computed here, the role logs in with it; unknown role 6923', async () => {
      const role = await world.addRole(unique('role').replace('-', '_'), 'First-Role-Passw0rd');
      const c = world.connector({ accounts: 'roles', query: undefined, setPassword: undefined, verifyQuery: undefined }, { import: { anchor: 'role' } });
      try {
        const roles: AccountRecord[] = await collect(c.importAccounts());
        assert.ok(roles.some((r) => r.anchor === role), 'the role is listed');
        await withSecret('Nëw-Role-Passw0rd', (s) => c.setPassword(role, s, {}));
        assert.equal(await world.roleLogsIn(role, 'Nëw-Role-Passw0rd'), true);
        assert.equal(await world.roleLogsIn(role, 'First-Role-Passw0rd'), false);
        assert.equal(await withSecret('Nëw-Role-Passw0rd', (s) => c.verifyPassword(role, s)), true);
        assert.equal(await withSecret('nope-nope-nope', (s) => c.verifyPassword(role, s)), false);
        assert.equal(await withSecret('', (s) => c.verifyPassword(role, s)), false);
        const e = await failure(withSecret('Some-Password-12', (s) => c.setPassword('no_such_role_here', s, {})));
        assert.ok(isPwsyncError(e) && e.event === EVENT.ACCOUNT_NOT_FOUND, e.message);
      } finally {
        await c.close();
      }
    });
  });
}

connectorTests('postgres');
connectorTests('mariadb');
