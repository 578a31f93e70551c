import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sqlConfigSchema } from './config.ts';
import { withSecretContext } from '../../fields/secret-ref.ts';
import type { Secret } from '../../core/secret.ts';

const SQL = {
  dialect: 'postgres',
  host: 'db.example.org',
  database: 'billing',
  user: 'pwsync',
  password: '${DB_PW}',
  query: 'SELECT id, login, email FROM users',
  setPassword: { statement: 'UPDATE users SET password_hash = :hash WHERE id = :anchor' },
};

/** The `sql:` block alone, as the configuration's schema validates it under a system's `sql` key. */
function parse(sql: Record<string, unknown>) {
  const created: Secret[] = [];
  return withSecretContext({ env: { DB_PW: 'not-a-real-password' }, baseDir: '/', created }, () => sqlConfigSchema.safeParse({ ...SQL, ...sql }));
}

function sqlOf(sql: Record<string, unknown>) {
  const result = parse(sql);
  if (!result.success) assert.fail(`refused: ${JSON.stringify(result.error.issues)}`);
  return result.data;
}

/** Each issue as `path: message`, the path from the system (`sql.…`). */
function refused(sql: Record<string, unknown>): string[] {
  const result = parse(sql);
  if (result.success) assert.fail(`expected ${JSON.stringify(sql)} to be refused`);
  return result.error.issues.map((i) => `${['sql', ...i.path].join('.')}: ${i.message}`);
}

void describe('sql connector configuration', () => {
  void test('defaults: TLS verify-full, rows, two connections, no plaintext', () => {
    const config = sqlOf({});
    assert.equal(config.tls.mode, 'verify-full');
    assert.equal(config.accounts, 'rows');
    assert.equal(config.connections, 2);
    assert.equal(config.setPassword?.plaintext, false);
    assert.equal(config.port, undefined);
  });

  void test('the password is a secret reference, never inline', () => {
    assert.ok(refused({ password: 'hunter2-inline' }).some((i) => i.startsWith('sql.password')));
  });

  void test('statements: unknown, missing and clear-password parameters are refused with the fix', () => {
    assert.deepEqual(refused({ setPassword: { statement: 'UPDATE users SET password_hash = :hash WHERE id = :id' } }), [
      'sql.setPassword.statement: unknown parameter :id (it may use :anchor, :hash, :password, :mustChange)',
      'sql.setPassword.statement: must use :anchor',
    ]);
    assert.ok(refused({ setPassword: { statement: 'UPDATE users SET locked = false WHERE id = :anchor' } }).some((i) => /must use :hash/.test(i)));
    assert.ok(refused({ setPassword: { statement: 'UPDATE users SET pw = :password WHERE id = :anchor' } }).some((i) => /set plaintext: true/.test(i)));
    assert.equal(sqlOf({ setPassword: { statement: 'UPDATE users SET pw = crypt(:password, gen_salt(\'bf\')) WHERE id = :anchor', plaintext: true } }).setPassword?.plaintext, true);
    assert.ok(refused({ query: 'SELECT * FROM users WHERE tenant = :tenant' }).some((i) => /takes no parameters/.test(i)));
    assert.ok(refused({ verifyQuery: 'SELECT password_hash FROM users' }).some((i) => /must use :anchor/.test(i)));
  });

  void test('statement syntax: positional placeholders, two statements, an open quote', () => {
    assert.ok(refused({ setPassword: { statement: 'UPDATE users SET password_hash = $1 WHERE id = $2' } }).some((i) => /named one/.test(i)));
    assert.ok(refused({ setPassword: { statement: 'UPDATE users SET password_hash = :hash WHERE id = :anchor; DELETE FROM users' } }).some((i) => /second statement/.test(i)));
    assert.ok(refused({ dialect: 'mariadb', query: "SELECT id FROM users WHERE note = 'x" }).some((i) => /never closed/.test(i)));
  });

  void test('rows need a query; roles take no statements of their own', () => {
    assert.ok(refused({ query: undefined }).some((i) => i.startsWith('sql.query: required')));
    const roles = sqlOf({ accounts: 'roles', query: undefined, setPassword: undefined });
    assert.equal(roles.accounts, 'roles');
    assert.ok(refused({ accounts: 'roles', query: undefined }).some((i) => /ALTER ROLE/.test(i)));
    assert.ok(refused({ accounts: 'roles', query: undefined, setPassword: undefined, deltaColumn: 'updated_at' }).some((i) => i.startsWith('sql.deltaColumn')));
  });

  void test('verify-ca without ca is refused, naming sql.tls.ca: it would trust every public CA for any host name', () => {
    assert.deepEqual(
      refused({ tls: { mode: 'verify-ca' } }).map((i) => i.split(':')[0]),
      ['sql.tls.ca'],
    );
    assert.equal(sqlOf({ tls: { mode: 'verify-full' } }).tls.ca, undefined, 'verify-full checks the name: the system CAs are fine');
  });

  void test('TLS modes and names', () => {
    assert.equal(sqlOf({ tls: { mode: 'verify-ca', ca: 'ca.pem' } }).tls.ca, 'ca.pem');
    assert.ok(refused({ tls: { mode: 'prefer' } }).some((i) => i.startsWith('sql.tls.mode')));
    assert.ok(refused({ deltaColumn: 'updated at' }).some((i) => i.startsWith('sql.deltaColumn')));
    assert.ok(refused({ dialect: 'oracle' }).some((i) => i.startsWith('sql.dialect')));
  });
});
