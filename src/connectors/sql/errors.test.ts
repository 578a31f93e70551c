import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicyError } from '../../core/errors.ts';
import { mapSqlError, redact } from './errors.ts';

/** An error shaped as node-postgres raises them: SQLSTATE in `code`, the row in `detail`. */
function pgError(code: string, message: string, detail?: string): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR', ...(detail === undefined ? {} : { detail }) });
}

/** An error shaped as mysql2 raises them: `errno`, `code` (ER_…) and `sqlState`. */
function myError(errno: number, code: string, message: string, sqlState = 'HY000'): Error {
  return Object.assign(new Error(message), { errno, code, sqlState });
}

describe('sql errors', () => {
  test('PostgreSQL: SQLSTATE → event', () => {
    const cases: [string, string, boolean][] = [
      ['23514', 'ERR_POLICY', false],
      ['P0001', 'ERR_POLICY', false],
      ['22001', 'ERR_POLICY', false],
      ['40001', 'ERR_TRANSIENT', true],
      ['40P01', 'ERR_TRANSIENT', true],
      ['57P01', 'ERR_TRANSIENT', true],
      ['57014', 'ERR_TRANSIENT', true],
      ['08006', 'ERR_TRANSIENT', true],
      ['53300', 'ERR_TRANSIENT', true],
      ['28P01', 'ERR_SERVICE_CREDENTIALS', false],
      ['42501', 'ERR_ACCESS_DENIED', false],
      ['42704', 'ERR_ACCOUNT_NOT_FOUND', false],
      ['42P01', 'ERR_TARGET_DATA', false],
    ];
    for (const [code, expected, retryable] of cases) {
      const e = mapSqlError(pgError(code, `message of ${code}`), 'postgres', 'u1', 'setting the password of');
      assert.equal(e.code, expected, code);
      assert.equal(e.retryable, retryable, code);
    }
  });

  test('MariaDB: errno → event', () => {
    const cases: [number, string][] = [
      [4025, 'ERR_POLICY'],
      [3819, 'ERR_POLICY'],
      [1644, 'ERR_POLICY'],
      [1819, 'ERR_POLICY'],
      [1213, 'ERR_TRANSIENT'],
      [1205, 'ERR_TRANSIENT'],
      [1040, 'ERR_TRANSIENT'],
      [1045, 'ERR_SERVICE_CREDENTIALS'],
      [1142, 'ERR_ACCESS_DENIED'],
      [1396, 'ERR_ACCOUNT_NOT_FOUND'],
      [3159, 'ERR_INSECURE_CONNECTION'],
      [1146, 'ERR_TARGET_DATA'],
    ];
    for (const [errno, expected] of cases) assert.equal(mapSqlError(myError(errno, 'ER_X', `message of ${errno}`), 'mariadb', 'u1', 'setting').code, expected, String(errno));
  });

  test('no answer from the server: socket errors and lost connections are retried; TLS failures are 7005', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    assert.equal(mapSqlError(refused, 'postgres', 'db', 'connecting to').code, 'ERR_TRANSIENT');
    assert.equal(mapSqlError(new Error('Connection terminated unexpectedly'), 'postgres', 'db', 'x').code, 'ERR_TRANSIENT');
    assert.equal(mapSqlError(Object.assign(new Error('lost'), { code: 'PROTOCOL_CONNECTION_LOST' }), 'mariadb', 'db', 'x').code, 'ERR_TRANSIENT');
    const tls = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    assert.equal(mapSqlError(tls, 'postgres', 'db', 'x').code, 'ERR_INSECURE_CONNECTION');
    assert.equal(mapSqlError(new Error('The server does not support SSL connections'), 'postgres', 'db', 'x').code, 'ERR_INSECURE_CONNECTION');
  });

  test("the server's DETAIL (the failing row) never reaches the message, and no driver error is kept as the cause", () => {
    const e = mapSqlError(pgError('23514', 'new row for relation "users" violates check constraint "pw_len"', 'Failing row contains (1, alice, $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA)'), 'postgres', 'a1', 'setting');
    assert.ok(e instanceof PolicyError);
    assert.doesNotMatch(e.message, /argon2id|Failing row/);
    assert.equal(e.cause, undefined);
  });

  test('redact cuts every value sent out of the message, as bytes', () => {
    const password = Buffer.from('Sécret-Pässwörd-1');
    const e = mapSqlError(pgError('P0001', 'password Sécret-Pässwörd-1 refused: Sécret-Pässwörd-1 is weak'), 'postgres', 'a1', 'setting');
    const r = redact(e, [password, Buffer.from('unused')]);
    assert.equal(r, e);
    assert.doesNotMatch(r.message, /Pässwörd/);
    assert.match(r.message, /password \[redacted\] refused: \[redacted\] is weak/);
    assert.equal(r.code, 'ERR_POLICY');
  });
});
