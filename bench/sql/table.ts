/** The table `app_users` of the private database: its rows made on the server, and their logins. */
import { performance } from 'node:perf_hooks';
import type { SqlWorld } from '../../test/support/connectors/sql.ts';

/** The login of the row `id`: u0000001… */
export function loginOf(id: number): string {
  return `u${String(id).padStart(7, '0')}`;
}

/** `rows` rows made on the server, ids 1…rows, logins u0000001…; then VACUUM ANALYZE. */
export async function fillTable(world: SqlWorld, rows: number): Promise<number> {
  const t = performance.now();
  if (world.dialect === 'postgres') {
    await world.exec(
      `INSERT INTO app_users (id, login, email)
       SELECT g, 'u' || lpad(g::text, 7, '0'), 'u' || lpad(g::text, 7, '0') || '@example.test' FROM generate_series(1, $1::int) AS g`,
      [rows],
    );
    await world.exec(`SELECT setval('app_users_id_seq', $1::int)`, [rows]);
    await world.exec('VACUUM ANALYZE app_users');
  } else {
    // MariaDB's sequence engine: seq_1_to_N is a table of 1…N.
    await world.exec(`INSERT INTO app_users (id, login, email) SELECT seq, CONCAT('u', LPAD(seq, 7, '0')), CONCAT('u', LPAD(seq, 7, '0'), '@example.test') FROM seq_1_to_${rows}`);
    await world.exec('ANALYZE TABLE app_users');
  }
  const [row] = await world.exec('SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM app_users');
  const [n, lo, hi] = [Number(row?.['n']), Number(row?.['lo']), Number(row?.['hi'])];
  if (n !== rows || lo !== 1 || hi !== rows) throw new Error(`app_users holds ${n} rows with ids ${lo}…${hi}, expected 1…${rows}`);
  return performance.now() - t;
}
