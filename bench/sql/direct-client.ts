/** The direct loop's database connection: the UPDATE a script would run, without pwsync. */
import { readFile } from 'node:fs/promises';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { APP_DATABASE, SERVICE_USER, type SqlWorld } from '../../test/support/connectors/sql.ts';

/** A driver connection as a script opens it: TLS verified against the CA, as the service account. */
export interface DirectClient {
  /** Rows changed. `inTransaction`: BEGIN, the UPDATE, then COMMIT (ROLLBACK unless one row changed), as the connector does. */
  update(hash: string, id: number, inTransaction?: boolean): Promise<number>;
  close(): Promise<void>;
}

interface Statements {
  exec(text: string): Promise<void>;
  update(hash: string, id: number): Promise<number>;
  close(): Promise<void>;
}

/** One statement at a time on the connection: the lanes that share it wait their turn (pg 8 would queue them too, deprecated). */
function oneAtATime(db: Statements): DirectClient {
  let tail: Promise<unknown> = Promise.resolve();
  const inTransaction = async (hash: string, id: number): Promise<number> => {
    await db.exec('BEGIN');
    let changed: number;
    try {
      changed = await db.update(hash, id);
    } catch (e) {
      await db.exec('ROLLBACK');
      throw e;
    }
    await db.exec(changed === 1 ? 'COMMIT' : 'ROLLBACK');
    return changed;
  };
  return {
    update(hash, id, transaction = false) {
      const run = tail.then(() => (transaction ? inTransaction(hash, id) : db.update(hash, id)));
      tail = run.catch(() => undefined);
      return run;
    },
    close: () => db.close(),
  };
}

export async function directClient(world: SqlWorld): Promise<DirectClient> {
  const ca = await readFile(world.server.caFile);
  const { host, port } = world.server;
  if (world.dialect === 'postgres') {
    const client = new pg.Client({ host, port, database: APP_DATABASE, user: SERVICE_USER, password: world.servicePassword, ssl: { ca, rejectUnauthorized: true } });
    await client.connect();
    return oneAtATime({
      async exec(text) {
        await client.query(text);
      },
      async update(hash, id) {
        return (await client.query('UPDATE app_users SET password_hash = $1 WHERE id = $2', [hash, id])).rowCount ?? 0;
      },
      close: () => client.end(),
    });
  }
  const conn = await mysql.createConnection({ host, port, database: APP_DATABASE, user: SERVICE_USER, password: world.servicePassword, ssl: { ca, rejectUnauthorized: true, verifyIdentity: true } });
  return oneAtATime({
    async exec(text) {
      await conn.query(text);
    },
    async update(hash, id) {
      const [result] = await conn.query<mysql.ResultSetHeader>('UPDATE app_users SET password_hash = ? WHERE id = ?', [hash, id]);
      return result.affectedRows;
    },
    close: () => conn.end(),
  });
}
