/*
 * The private PostgreSQL of test/support/postgres.ts does what tests of the postgres store and the
 * sql connector need: it listens on 127.0.0.1 only, refuses every connection without TLS (the
 * server says no, not the client), presents a certificate that verifies against the harness CA by
 * IP address, makes roles (with a verifier, never the password, in the statement) and databases,
 * survives restart and kill with its data, and leaves no process, shared memory or file behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import pg, { type ClientConfig } from 'pg';
import { groupRunning } from '../support/daemon.ts';
import { assertNoPasswords } from '../support/leaks.ts';
import { type Postgres, startPostgres } from '../support/postgres.ts';

/** Connects with `config`, runs one query, ends; what the server or TLS said when it fails. */
async function query(config: ClientConfig, text: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<pg.QueryResultRow>(text)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function hasCode(code: string | readonly string[]): (e: unknown) => boolean {
  const codes = typeof code === 'string' ? [code] : code;
  return (e: unknown) => {
    assert.ok(e instanceof Error, String(e));
    assert.ok('code' in e && codes.includes(String(e.code)), `expected ${codes.join(' or ')}, got ${'code' in e ? String(e.code) : 'no code'}: ${e.message}`);
    return true;
  };
}

/** System V shared memory ids in use (the kernel's own list). */
function shmids(): Set<string> {
  const lines = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n').slice(1);
  return new Set(lines.map((l) => l.trim().split(/\s+/)[1] ?? ''));
}

/** The shmid a running (or killed) postmaster holds, from line 7 of postmaster.pid. */
function postmasterShmid(server: Postgres): string {
  const line = readFileSync(`${server.dataDir}/postmaster.pid`, 'utf8').split('\n')[6] ?? '';
  const id = /^\s*\d+\s+(\d+)/.exec(line)?.[1];
  assert.ok(id !== undefined, `postmaster.pid line 7: ${line}`);
  return id;
}

describe('private PostgreSQL harness', () => {
  let server: Postgres;
  const appPassword = `App-${randomBytes(12).toString('base64url')}-1`;

  before(async () => {
    const started = Date.now();
    server = await startPostgres();
    process.stderr.write(`# first PostgreSQL (initdb template + copy + start): ${Date.now() - started} ms\n`);
  });
  after(() => server.stop());

  test('serves the superuser over TLS verified against the harness CA, on 127.0.0.1 only', async () => {
    assert.equal(server.host, '127.0.0.1');
    assert.ok(Number.isInteger(server.port) && server.port > 0);
    assert.match(server.ca, /-----BEGIN CERTIFICATE-----/);
    assert.equal(readFileSync(server.caFile, 'utf8'), server.ca);
    const [row] = await server.sql<{ ssl: boolean; version: string; listen: string; fsync: string }>(
      `SELECT s.ssl, s.version, current_setting('listen_addresses') AS listen, current_setting('fsync') AS fsync
         FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`);
    assert.ok(row);
    assert.equal(row.ssl, true);
    assert.match(row.version, /^TLSv1\.[23]$/);
    assert.equal(row.listen, '127.0.0.1');
    assert.equal(row.fsync, 'off');
    const [v] = await server.sql<{ major: string }>(`SELECT current_setting('server_version_num')::int / 10000 AS major`);
    assert.equal(String(v?.major), server.version);
  });

  test('a connection without TLS is refused by the server (pg_hba: hostnossl reject)', async () => {
    // 28000 invalid_authorization_specification is the server's pg_hba refusal: the client did connect.
    await assert.rejects(query({ ...server.clientConfig(), ssl: false }, 'SELECT 1'), hasCode('28000'));
    // The same login over TLS works, so the refusal was the transport, not the credentials.
    assert.deepEqual(await query(server.clientConfig(), 'SELECT 1 AS one'), [{ one: 1 }]);
  });

  test('the client refuses a certificate it cannot verify: unknown CA, wrong name', async () => {
    const config = server.clientConfig();
    await assert.rejects(query({ ...config, ssl: { rejectUnauthorized: true } }, 'SELECT 1'),
      hasCode(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']));
    // node-postgres checks the name it is given (else the IP address) against the SAN: verify-full.
    await assert.rejects(query({ ...config, ssl: { ca: server.ca, servername: 'db.example.org' } }, 'SELECT 1'), hasCode('ERR_TLS_CERT_ALTNAME_INVALID'));
    assert.equal((await query({ ...config, ssl: { ca: server.ca, servername: 'localhost' } }, 'SELECT 1 AS one')).length, 1);
  });

  test('createRole and createDatabase: the role logs in with its password, not with another', async () => {
    await server.createRole('app', appPassword, { createDb: true });
    await server.createDatabase('appdb', { owner: 'app' });
    const login = { user: 'app', password: appPassword, database: 'appdb' };
    await server.admin(async (client) => {
      await client.query('CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL)');
      await client.query('INSERT INTO accounts VALUES ($1, $2)', [1, 'alice']);
    }, login);
    const [role] = await server.sql<{ rolpassword: string; rolsuper: boolean }>('SELECT rolpassword, rolsuper FROM pg_authid WHERE rolname = $1', ['app']);
    assert.ok(role);
    assert.match(role.rolpassword, /^SCRAM-SHA-256\$4096:/);
    assert.equal(role.rolsuper, false);
    // 28P01 invalid_password.
    await assert.rejects(query(server.clientConfig({ ...login, password: 'Wrong-Password-1' }), 'SELECT 1'), hasCode('28P01'));
    // Neither password is in any file of the instance (data, WAL, configuration).
    await assertNoPasswords(server.dir, [appPassword, server.superuserPassword], [], 'after createRole');
  });

  test('restart keeps the data and the port and ends open sessions', async () => {
    const before = server.pid;
    const held = new pg.Client(server.clientConfig());
    const heldErrors: unknown[] = [];
    held.on('error', (e) => heldErrors.push(e));
    await held.connect();
    const started = Date.now();
    // Fast shutdown: an open session does not hold the restart up.
    await server.restart();
    process.stderr.write(`# PostgreSQL restart with a session open: ${Date.now() - started} ms\n`);
    assert.notEqual(server.pid, before);
    assert.equal(groupRunning(before), false);
    await assert.rejects(held.query('SELECT 1'));
    await held.end().catch(() => undefined);
    assert.deepEqual(await server.sql('SELECT name FROM accounts', [], 'appdb'), [{ name: 'alice' }]);
  });

  test('kill SIGKILLs the whole group mid-run; restart recovers committed data on the same port', async () => {
    await server.sql('INSERT INTO accounts VALUES (2, $1)', ['bob'], 'appdb');
    const before = server.pid;
    const shmid = postmasterShmid(server);
    const port = server.port;
    await server.kill();
    assert.equal(groupRunning(before), false, 'no postgres process is left');
    await assert.rejects(query(server.clientConfig(), 'SELECT 1'), hasCode('ECONNREFUSED'));
    await server.restart();
    assert.equal(server.port, port);
    assert.equal(shmids().has(shmid), false, 'the new postmaster removed the old shared memory');
    assert.deepEqual(await server.sql('SELECT name FROM accounts ORDER BY id', [], 'appdb'), [{ name: 'alice' }, { name: 'bob' }]);
  });

  test('a second instance is separate; kill then stop leaves no process, shared memory or file', async () => {
    const started = Date.now();
    const other = await startPostgres();
    process.stderr.write(`# second PostgreSQL (copy + start): ${Date.now() - started} ms\n`);
    const { pid, dir } = other;
    assert.notEqual(other.port, server.port);
    assert.notEqual(dir, server.dir);
    assert.equal(other.ca, server.ca);
    assert.deepEqual(await other.sql(`SELECT datname FROM pg_database WHERE datname = 'appdb'`), []);
    const shmid = postmasterShmid(other);
    await other.kill();
    assert.equal(shmids().has(shmid), true, 'a killed postmaster leaves its segment');
    await other.stop();
    await other.stop();
    assert.equal(groupRunning(pid), false);
    assert.equal(shmids().has(shmid), false, 'stop removed it');
    assert.equal(existsSync(dir), false);
  });

  test('stop ends every process and removes the directory', async () => {
    const { pid, dir } = server;
    const shmid = postmasterShmid(server);
    await server.stop();
    await server.stop();
    assert.equal(groupRunning(pid), false);
    assert.equal(shmids().has(shmid), false);
    assert.equal(existsSync(dir), false);
    await assert.rejects(server.restart());
  });
});
