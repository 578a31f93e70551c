import type Database from 'better-sqlite3';
import { matchKey } from '../../core/join.ts';
import { migrate } from '../../sqlite/migrations.ts';
import { openPrivateDatabase } from '../../sqlite/open.ts';
import { MIGRATIONS } from './migrations.ts';

/**
 * Opens (creating when missing) the store's database file as the toolkit opens every private one,
 * with the store's SQL function, and brings its schema up to date.
 */
export function openDatabase(path: string, now: number): Database.Database {
  return openPrivateDatabase(path, now, {
    what: 'the store',
    cacheKib: 32_000,
    migrate: (db, at) => migrate(db, MIGRATIONS, at),
    // The case-insensitive match key as an SQL function, for searches over stored JSON.
    prepare: (db) => db.function('pw_fold', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? matchKey(value, 'caseInsensitive') : null)),
  });
}
