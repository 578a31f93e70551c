import type Database from 'better-sqlite3';
import { StoreSchemaTooNewError } from './errors.ts';

/** One schema step. Versions are consecutive; a released migration is never edited, only followed. */
export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** The schema a list of migrations brings a file to: the last one's version. */
export function schemaVersion(migrations: readonly Migration[]): number {
  return Math.max(...migrations.map((m) => m.version));
}

/**
 * Brings `db` up to the last of `migrations` in one IMMEDIATE transaction, so two processes opening
 * a new file at once (a service and a CLI command) cannot both migrate it. `check` runs first in the
 * same transaction (the agent's queue refuses a file that is not one).
 */
export function migrate(db: Database.Database, migrations: readonly Migration[], now: number, check?: (db: Database.Database) => void): void {
  db.transaction(() => {
    check?.(db);
    applyMigrations(db, migrations, now);
  }).immediate();
}

/**
 * Applies the migrations `db` has not had yet, recording each; refuses a file whose schema is newer
 * than the last of `migrations`. Runs inside the caller's transaction.
 */
export function applyMigrations(db: Database.Database, migrations: readonly Migration[], now: number): void {
  const supported = schemaVersion(migrations);
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const row = db.prepare<[], { version: number | null }>('SELECT max(version) AS version FROM schema_migrations').get();
  const current = row?.version ?? 0;
  if (current > supported) throw new StoreSchemaTooNewError(current, supported);
  const record = db.prepare<[number, number]>('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.exec(migration.sql);
    record.run(migration.version, now);
  }
}
