/*
 * The private MariaDB of test/support/mariadb.ts does what tests of the sql connector need: it
 * listens on 127.0.0.1 only, refuses every TCP connection without TLS (the server says no, not
 * the client), presents a certificate the client verifies against the harness CA (chain and name),
 * has a root password and no password-less account, makes users (with a hash, never the password,
 * in the statement) and databases, survives restart and kill with its data, and leaves no process
 * or file behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mysql, { type ConnectionOptions, type RowDataPacket } from 'mysql2/promise';
import { groupRunning } from '../support/daemon.ts';
import { assertNoPasswords } from '../support/leaks.ts';
import { type MariaDb, startMariaDb } from '../support/mariadb.ts';

/** Connects with `options`, runs one query, ends; what the server or TLS said when it fails. */
async function query(options: ConnectionOptions, text: string): Promise<RowDataPacket[]> {
  const connection = await mysql.createConnection(options);
  connection.on('error', () => undefined);
  try {
    return (await connection.query<RowDataPacket[]>(text))[0];
  } finally {
    await connection.end().catch(() => undefined);
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

describe('private MariaDB harness', () => {
  let server: MariaDb;
  const appPassword = `App-${randomBytes(12).toString('base64url')}-1`;

  before(async () => {
    const started = Date.now();
    server = await startMariaDb();
    process.stderr.write(`# first MariaDB (install template + copy + start): ${Date.now() - started} ms\n`);
  });
  after(() => server.stop());

  test('serves root over TLS verified against the harness CA, on 127.0.0.1 only, with the settings asked for', async () => {
    assert.equal(server.host, '127.0.0.1');
    assert.match(server.version, /^10\.\d+\.\d+-MariaDB/);
    assert.equal(readFileSync(server.caFile, 'utf8'), server.ca);
    const [row] = await server.sql(`SELECT @@require_secure_transport AS rst, @@bind_address AS bind, @@log_bin AS logBin,
      @@character_set_server AS charset, @@socket AS socket, @@port AS port`);
    assert.deepEqual({ ...row }, { rst: 1, bind: '127.0.0.1', logBin: 0, charset: 'utf8mb4', socket: server.socket, port: server.port });
    const [cipher] = await server.sql(`SHOW SESSION STATUS LIKE 'Ssl_version'`);
    assert.match(String(cipher?.Value), /^TLSv1\.[23]$/);
  });

  test('a connection without TLS is refused by the server (require_secure_transport)', async () => {
    // MariaDB 10.11 answers a non-TLS login under require_secure_transport with plain access
    // denied (1045), as for a wrong password: the same credentials over TLS work, so it was the transport.
    const { ssl, ...plain } = server.connectionOptions();
    assert.ok(ssl !== undefined);
    await assert.rejects(query(plain, 'SELECT 1'), hasCode('ER_ACCESS_DENIED_ERROR'));
    assert.equal((await query(server.connectionOptions(), 'SELECT 1 AS one')).length, 1);
    // And it is that setting: a copy started without it takes the very same plain login.
    const lax = await startMariaDb({ settings: { 'require-secure-transport': 'OFF' } });
    try {
      const { ssl: laxSsl, ...laxPlain } = lax.connectionOptions();
      assert.ok(laxSsl !== undefined);
      assert.equal((await query(laxPlain, 'SELECT 1 AS one')).length, 1);
    } finally {
      await lax.stop();
    }
  });

  test('the client refuses a certificate from an unknown CA', async () => {
    // mysql2 reports every TLS failure as HANDSHAKE_SSL_ERROR (the TLS error's own code is overwritten).
    await assert.rejects(query({ ...server.connectionOptions(), ssl: { rejectUnauthorized: true } }, 'SELECT 1'), (e: unknown) => {
      hasCode('HANDSHAKE_SSL_ERROR')(e);
      assert.ok(e instanceof Error && !('cert' in e), 'a chain failure, not a name mismatch');
      return true;
    });
  });

  test('root has a password and no account logs in without one', async () => {
    await assert.rejects(query({ ...server.connectionOptions(), password: '' }, 'SELECT 1'), hasCode('ER_ACCESS_DENIED_ERROR'));
    await assert.rejects(query({ ...server.connectionOptions(), password: 'Wrong-Password-1' }, 'SELECT 1'), hasCode('ER_ACCESS_DENIED_ERROR'));
    const accounts = await server.sql(`SELECT User AS user, Host AS host, authentication_string AS auth, is_role AS isRole FROM mysql.user`);
    const open = accounts.filter((a) => a.auth === '' && a.user !== 'mariadb.sys' && a.isRole !== 'Y');
    assert.deepEqual(open, []);
    assert.deepEqual(accounts.filter((a) => a.user === 'root').map((a) => String(a.host)).sort(), ['127.0.0.1', 'localhost']);
  });

  test('createUser and createDatabase: the user logs in with its password, not with another', async () => {
    await server.createDatabase('appdb');
    await server.createUser('app', appPassword, { database: 'appdb' });
    const login = { user: 'app', password: appPassword, database: 'appdb' };
    await server.admin(async (c) => {
      await c.query('CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL)');
      await c.query('INSERT INTO accounts VALUES (?, ?)', [1, 'alice']);
    }, login);
    await assert.rejects(query(server.connectionOptions({ ...login, password: 'Wrong-Password-1' }), 'SELECT 1'), hasCode('ER_ACCESS_DENIED_ERROR'));
    // Other databases are not the user's.
    await assert.rejects(query(server.connectionOptions({ ...login, database: 'mysql' }), 'SELECT 1'), hasCode('ER_DBACCESS_DENIED_ERROR'));
    // Neither password is in any file of the instance (data, redo log, configuration).
    await assertNoPasswords(server.dir, [appPassword, server.rootPassword], [], 'after createUser');
  });

  test('the client checks the certificate name (verifyIdentity), not only the chain', async () => {
    // A name mysql2 is given as `host` is the one it checks; the connection itself goes to 127.0.0.1.
    const as = (host: string, verifyIdentity: boolean): ConnectionOptions => ({
      ...server.connectionOptions(), host, stream: connect(server.port, '127.0.0.1'), ssl: { ca: server.ca, rejectUnauthorized: true, verifyIdentity },
    });
    // HANDSHAKE_SSL_ERROR here is node's ERR_TLS_CERT_ALTNAME_INVALID, recognisable by the host and certificate it carries.
    await assert.rejects(query(as('db.example.org', true), 'SELECT 1'), (e: unknown) => {
      hasCode('HANDSHAKE_SSL_ERROR')(e);
      assert.ok(e instanceof Error && 'host' in e && e.host === 'db.example.org' && 'cert' in e, String(e));
      return true;
    });
    assert.equal((await query(as('localhost', true), 'SELECT 1 AS one')).length, 1);
    // The trap the harness avoids: without verifyIdentity, mysql2 accepts a certificate for any name.
    assert.equal((await query(as('db.example.org', false), 'SELECT 1 AS one')).length, 1);
  });

  test('restart keeps the data and the port and ends open sessions', async () => {
    const before = server.pid;
    const held = await mysql.createConnection(server.connectionOptions());
    held.on('error', () => undefined);
    const started = Date.now();
    await server.restart();
    process.stderr.write(`# MariaDB restart with a session open: ${Date.now() - started} ms\n`);
    assert.notEqual(server.pid, before);
    assert.equal(groupRunning(before), false);
    await assert.rejects(held.query('SELECT 1'));
    await held.end().catch(() => undefined);
    assert.deepEqual((await server.sql('SELECT name FROM accounts', [], 'appdb')).map((r) => ({ ...r })), [{ name: 'alice' }]);
  });

  test('kill SIGKILLs the server mid-run; restart recovers committed data on the same port', async () => {
    await server.sql('INSERT INTO accounts VALUES (2, ?)', ['bob'], 'appdb');
    const before = server.pid;
    const port = server.port;
    await server.kill();
    assert.equal(groupRunning(before), false, 'no mariadbd is left');
    await assert.rejects(query(server.connectionOptions(), 'SELECT 1'), hasCode('ECONNREFUSED'));
    await server.restart();
    assert.equal(server.port, port);
    assert.deepEqual((await server.sql('SELECT name FROM accounts ORDER BY id', [], 'appdb')).map((r) => ({ ...r })), [{ name: 'alice' }, { name: 'bob' }]);
  });

  test('a second instance is separate; stop leaves no process or file', async () => {
    const started = Date.now();
    const other = await startMariaDb();
    process.stderr.write(`# second MariaDB (copy + start): ${Date.now() - started} ms\n`);
    const { pid, dir } = other;
    assert.notEqual(other.port, server.port);
    assert.equal(other.ca, server.ca);
    assert.deepEqual(await other.sql(`SHOW DATABASES LIKE 'appdb'`), []);
    await other.kill();
    await other.stop();
    await other.stop();
    assert.equal(groupRunning(pid), false);
    assert.equal(existsSync(dir), false);
  });

  test('stop ends the server and removes the directory', async () => {
    const { pid, dir } = server;
    await server.stop();
    await server.stop();
    assert.equal(groupRunning(pid), false);
    assert.equal(existsSync(dir), false);
    await assert.rejects(server.restart());
  });
});
