import { createHash, createHmac, hash, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import saslprep from '@mongodb-js/saslprep';

/*
 * A database login role's password, as the server stores it, computed here: the ALTER ROLE / ALTER
 * USER statement then carries the verifier, never the password, so the password does not reach the
 * server, its statement log or its replication stream.
 */

const pbkdf2Async = promisify(pbkdf2);

/** PostgreSQL's default for `scram_iterations`. */
export const SCRAM_ITERATIONS = 4096;

/**
 * The bytes PostgreSQL derives a SCRAM key from: SASLprep (RFC 4013) of the password when it is
 * valid UTF-8 and passes it, the password's bytes as they are otherwise (as `pg_saslprep` does).
 * An ASCII password is its own SASLprep without control characters, and is used without ever
 * becoming a JavaScript string; a non-ASCII one is normalised through a string, briefly.
 */
function scramInput(password: Buffer): Buffer {
  if (password.every((b) => b >= 0x20 && b < 0x7f)) return password;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(password);
  } catch {
    return password;
  }
  try {
    return Buffer.from(saslprep(text), 'utf8');
  } catch {
    // A prohibited character: PostgreSQL then uses the password as it is.
    return password;
  }
}

/**
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, RFC 7677), the form
 * `pg_authid.rolpassword` holds and `ALTER ROLE … PASSWORD` accepts as is.
 */
export async function scramSha256Verifier(password: Buffer, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): Promise<string> {
  const input = scramInput(password);
  const salted = await pbkdf2Async(input, salt, iterations, 32, 'sha256');
  try {
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const serverKey = createHmac('sha256', salted).update('Server Key').digest();
    clientKey.fill(0);
    return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
  } finally {
    salted.fill(0);
    if (input !== password) input.fill(0);
  }
}

/**
 * MariaDB/MySQL `mysql_native_password`: `*` and the upper-case hex of SHA1(SHA1(password)), the
 * form `ALTER USER … IDENTIFIED BY PASSWORD '…'` accepts. The server's own format for that plugin
 * (MariaDB 10.x's default); it is unsalted SHA-1, which is why it stays between pwsync and the
 * server over TLS only.
 */
export function mysqlNativePasswordHash(password: Buffer): string {
  // One call, not createHash().update(password): a hash object keeps a short password in OpenSSL's
  // context until the garbage collector frees it (docs/security.md, "Memory and core dumps").
  const inner = hash('sha1', password, 'buffer');
  try {
    return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
  } finally {
    inner.fill(0);
  }
}
