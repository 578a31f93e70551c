import type Database from 'better-sqlite3';
import { openPrivateDatabase } from '../../sqlite/open.ts';
import { migrateAgent } from './migrations.ts';

/**
 * Opens (creating when missing) the agent's database as the SQLite toolkit opens every file that
 * holds sealed secrets (private modes, WAL, fsync per commit, secure delete) and brings its schema
 * up to date. Anything SQLite refuses is a StoreError.
 */
export function openAgentDatabase(path: string, now: number): Database.Database {
  return openPrivateDatabase(path, now, { what: 'the agent queue', cacheKib: 8_000, migrate: migrateAgent });
}
