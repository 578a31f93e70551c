/*
 * A source (a file) → pwsync → an application database on a private PostgreSQL and MariaDB with
 * TLS required, through the runtime the server runs (configuration file, registry, store thread,
 * workers): config check --connect, import and join, a change the database hashes itself, its
 * policy refusal (6927), a deleted row (6923), the server killed mid-run (retried, then delivered
 * after its restart), plain connections refused when a secure one is required (7005), delta
 * import. No test password may be left in any file or log.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EVENT, type EventCode } from '../../src/core/events.ts';
import { Secret } from '../../src/core/secret.ts';
import { verifySecret } from '../../src/crypto/hash/index.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openRuntime, type Runtime } from '../../src/main.ts';
import { importSystem } from '../../src/sync/importer.ts';
import type { Dialect } from '../../src/connectors/sql/named-params.ts';
import { APP_DATABASE, IMPORT, SERVICE_USER, SET_PLAINTEXT, startSqlWorld, VERIFY, type SqlWorld } from '../support/connectors/sql.ts';
import { runCli } from '../support/cli.ts';
import { assertNoPasswords } from '../support/leaks.ts';
import { RuntimeChanges } from '../support/runtime-changes.ts';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;

function syncTests(dialect: Dialect): void {
  describe(`file source → pwsync → ${dialect} (TLS required, the database hashes)`, () => {
    const passwords: string[] = [];
    let world: SqlWorld;
    let dir = '';
    let rt: Runtime;
    const ids = new Map<string, string>();
    const env = `PWSYNC_TEST_DB_PW_${dialect.toUpperCase()}`;

    const yaml = (tls: string): string => `
dataDir: ./data
server: { workers: 4, pollInterval: 20ms }
log: { level: debug, file: ./pwsync.log }
systems:
  - name: hr
    connector: file
    file: { path: hr.csv }
    source: { accountAttribute: login }
    import: { anchor: id, map: { login: login } }
  - name: app
    connector: sql
    sql:
      dialect: ${dialect}
      host: ${world.server.host}
      port: ${world.server.port}
      database: ${APP_DATABASE}
      user: ${SERVICE_USER}
      password: \${${env}}
      tls: ${tls}
      query: ${IMPORT}
      deltaColumn: updated_at
      setPassword: { statement: "${SET_PLAINTEXT}", plaintext: true }
      verifyQuery: ${VERIFY}
    import: { anchor: id, map: { login: login, mail: email } }
    join: [{ person: login, account: login }]
    password: { sync: true, retry: { count: 40, interval: 250ms } }
`;

    const changes = new RuntimeChanges(() => rt, 'hr', 'app', passwords);
    const change = (login: string, password: string): Promise<string> => changes.change(login, password);
    const finalEvent = (changeId: string, codes: readonly EventCode[]): Promise<EventCode> => changes.finalEvent(changeId, codes);
    const works = async (login: string, password: string): Promise<boolean> => {
      const stored = await world.storedHash(ids.get(login) ?? '');
      if (stored === null) return false;
      const secret = Secret.fromString(password);
      try {
        return await verifySecret(stored, secret);
      } finally {
        secret.dispose();
      }
    };

    before(async () => {
      world = await startSqlWorld(dialect);
      process.env[env] = world.servicePassword;
      dir = await mkdtemp(join(tmpdir(), `pwsync-sql-sync-${dialect}-`));
      await writeFile(join(dir, 'hr.csv'), `id,login\n${USERS.map((u, i) => `${i + 1},${u}`).join('\n')}\n`);
      for (const u of USERS) ids.set(u, await world.addUser(u, `${u}@example.test`));
      await writeFile(join(dir, 'pwsync.yaml'), yaml(`{ ca: ${world.server.caFile} }`));
      await Keyring.create(join(dir, 'data', 'store.key'));
      rt = await openRuntime(join(dir, 'pwsync.yaml'), { workers: true, storeThread: true });
    });

    after(async () => {
      await rt.close();
      Reflect.deleteProperty(process.env, env);
      await assertNoPasswords(dir, passwords, [], `after the ${dialect} sync run`);
      await rm(dir, { recursive: true, force: true });
      await world.stop();
    });

    test('pwsync config check --connect logs in over TLS and runs the import query; a wrong password is reported', async () => {
      const config = join(dir, 'pwsync.yaml');
      const good = await runCli(['config', 'check', config, '--connect', '--json'], { env: { [env]: world.servicePassword } });
      assert.equal(good.code, 0, good.stderr);
      const report = JSON.parse(good.stdout) as { ok: boolean; connections: { system: string; ok: boolean; secure: boolean; identity: string }[] };
      assert.deepEqual(report.connections.map((c) => [c.system, c.ok, c.secure]), [['hr', true, true], ['app', true, true]]);
      const bad = await runCli(['config', 'check', config, '--connect'], { env: { [env]: 'not-the-password' } });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /app \(sql\): FAILED.*ERR_SERVICE_CREDENTIALS/);
    });

    test('import projects persons from the source and joins every row by login', async () => {
      await importSystem(rt.ctx, 'hr');
      const report = await importSystem(rt.ctx, 'app');
      assert.equal(report.read, USERS.length);
      assert.equal(report.joined, USERS.length);
    });

    test('a change reaches the database, which hashes it; the password checks (non-ASCII too)', async () => {
      const id = await change('alice', 'Ålice-Nÿ-Pässwörd-1');
      assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.POLICY_REFUSED, EVENT.ACCOUNT_NOT_FOUND]), EVENT.PASSWORD_SET);
      assert.equal(await works('alice', 'Ålice-Nÿ-Pässwörd-1'), true);
    });

    test("a password the database's own rule refuses ends in 6927 and changes nothing; the event does not quote it", async () => {
      // Delivered before the next: a change still pending would be superseded by it (7008), not set.
      assert.equal(await finalEvent(await change('bob', 'Bob-First-Passw0rd'), [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.POLICY_REFUSED, EVENT.ACCOUNT_NOT_FOUND]), EVENT.PASSWORD_SET);
      const id = await change('bob', 'Shört-Pw1');
      assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.POLICY_REFUSED]), EVENT.POLICY_REFUSED);
      const events = await rt.ctx.store.listEvents({ changeId: id, limit: 100 });
      assert.ok(events.every((e) => !e.message.includes('Shört-Pw1')));
      assert.equal(await works('bob', 'Bob-First-Passw0rd'), true);
    });

    test('a row deleted from the table ends in 6923', async () => {
      await world.exec(dialect === 'postgres' ? 'DELETE FROM app_users WHERE id = $1' : 'DELETE FROM app_users WHERE id = ?', [Number(ids.get('dave'))]);
      const id = await change('dave', 'Dave-Gone-Passw0rd');
      assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.ACCOUNT_NOT_FOUND]), EVENT.ACCOUNT_NOT_FOUND);
    });

    test('the database killed mid-run: retried (7003), delivered once it is back', async () => {
      await world.server.kill();
      const id = await change('carol', 'Carol-Back-Again-1');
      await finalEvent(id, [EVENT.RETRY_SCHEDULED]);
      await world.server.restart();
      assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED]), EVENT.PASSWORD_SET);
      assert.equal(await works('carol', 'Carol-Back-Again-1'), true);
    });

    test('delta import reads what changed since the last import', async () => {
      await world.exec(dialect === 'postgres' ? 'UPDATE app_users SET email = $1 WHERE id = $2' : 'UPDATE app_users SET email = ? WHERE id = ?', ['erin.new@example.test', Number(ids.get('erin'))]);
      const report = await importSystem(rt.ctx, 'app', () => undefined, { mode: 'delta' });
      assert.equal(report.mode, 'delta');
      assert.ok(report.read >= 1, `read ${report.read}`);
      const erin = await rt.ctx.store.getAccount('app', ids.get('erin') ?? '');
      assert.equal(erin?.attributes.mail, 'erin.new@example.test');
    });

    test('TLS off for a system that requires a secure connection: 7005, nothing sent', async () => {
      await rt.close();
      await writeFile(join(dir, 'pwsync.yaml'), yaml('{ mode: disable }'));
      rt = await openRuntime(join(dir, 'pwsync.yaml'), { workers: true, storeThread: true });
      const id = await change('erin', 'Erin-Plain-Passw0rd');
      assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.INSECURE_CONNECTION]), EVENT.INSECURE_CONNECTION);
      assert.equal(await works('erin', 'Erin-Plain-Passw0rd'), false);
    });
  });
}

syncTests('postgres');
syncTests('mariadb');
