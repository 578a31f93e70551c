import Database from 'better-sqlite3';

/** The schema versions recorded in the closed database file at `path`, in order (for tests). */
export function recordedMigrations(path: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], number>('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
  } finally {
    db.close();
  }
}
