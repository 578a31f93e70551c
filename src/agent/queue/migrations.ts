import type Database from 'better-sqlite3';
import { StoreError } from '../../core/errors.ts';
import { migrate, schemaVersion, type Migration } from '../../sqlite/migrations.ts';
import { eventLog } from './events.ts';

/**
 * Marks the file as an agent queue ('pwsa'), so that the agent refuses the server's store (or any
 * other SQLite file) given by mistake instead of adding its tables to it.
 */
export const APPLICATION_ID = 0x70777361;

// Conventions as in the server store: times are integer epoch ms. A queued change keeps only its
// sealed secret; removing the row (delivered, rejected, expired, out of scope) lets secure_delete
// overwrite it, and the WAL is truncated soon after.
const V1 = `
-- AUTOINCREMENT: seq is the delivery order and must never be reused, even after the newest
-- rows were removed.
CREATE TABLE captures (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT    NOT NULL UNIQUE,
  source           TEXT    NOT NULL,
  account          TEXT    NOT NULL,
  changed_at       INTEGER NOT NULL,
  captured_at      INTEGER NOT NULL,
  scope            TEXT    NOT NULL CHECK (scope IN ('in', 'pending')),
  key_id           TEXT    NOT NULL,
  secret           BLOB    NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_attempt_at  INTEGER,
  last_error       TEXT
);
CREATE INDEX captures_captured_at ON captures (captured_at);
CREATE INDEX captures_pending ON captures (seq) WHERE scope = 'pending';

-- The queue's length, kept by triggers so that each enqueue checks the limit without counting
-- up to 100,000 rows; the CLI and the agent both change the queue, so a counter in memory would not do.
CREATE TABLE queue_length (
  one     INTEGER PRIMARY KEY CHECK (one = 1),
  length  INTEGER NOT NULL CHECK (length >= 0)
);
INSERT INTO queue_length (one, length) VALUES (1, 0);
CREATE TRIGGER captures_counted_in AFTER INSERT ON captures BEGIN
  UPDATE queue_length SET length = length + 1 WHERE one = 1;
END;
CREATE TRIGGER captures_counted_out AFTER DELETE ON captures BEGIN
  UPDATE queue_length SET length = length - 1 WHERE one = 1;
END;

-- position: failover order 1…n. Moves shift neighbours through negative values (see targets.ts),
-- so the UNIQUE constraint holds after every statement.
CREATE TABLE targets (
  name                  TEXT    PRIMARY KEY,
  url                   TEXT    NOT NULL,
  ca_file               TEXT,
  cert_file             TEXT,
  key_file              TEXT,
  server_key_file       TEXT,
  enabled               INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  retry_interval_ms     INTEGER NOT NULL CHECK (retry_interval_ms BETWEEN 10000 AND 3600000),
  position              INTEGER NOT NULL UNIQUE,
  added_at              INTEGER NOT NULL,
  last_success_at       INTEGER,
  last_failure_at       INTEGER,
  last_error            TEXT,
  next_attempt_at       INTEGER,
  consecutive_failures  INTEGER NOT NULL DEFAULT 0
);

-- The event log (src/sqlite/events.ts).
${eventLog.createTableSql([])}
`;

// The source's immutable account id (AD's objectGUID) when the hook knows it; and how far each
// source account's password has been taken (a capture source that reports an account's current
// state whenever any of its attributes changes, as Samba's syncpasswords does, is told apart from
// a new password by it: AD's msDS-KeyVersionNumber).
const V2 = `
ALTER TABLE captures ADD COLUMN anchor TEXT;
CREATE TABLE capture_marks (
  source      TEXT    NOT NULL,
  account_key TEXT    NOT NULL,
  mark        INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  PRIMARY KEY (source, account_key)
) WITHOUT ROWID;
`;

/** Every migration of the agent's database, in order. */
export const AGENT_MIGRATIONS: readonly Migration[] = [{ version: 1, sql: V1 }, { version: 2, sql: V2 }];

export const AGENT_SCHEMA_VERSION = schemaVersion(AGENT_MIGRATIONS);

/**
 * Brings the schema up to {@link AGENT_SCHEMA_VERSION} in one IMMEDIATE transaction (the agent and
 * a CLI command may open a new file at once). Refuses a file written by a newer program, and a
 * SQLite file that is not an agent queue.
 */
export function migrateAgent(db: Database.Database, now: number): void {
  migrate(db, AGENT_MIGRATIONS, now, claimFile);
}

/** Marks a new file as an agent queue; refuses a file that is something else. */
function claimFile(db: Database.Database): void {
  const appId = Number(db.pragma('application_id', { simple: true }));
  if (appId === 0) {
    const tables = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get()?.n ?? 0;
    if (tables > 0) throw new StoreError('the file is a SQLite database but not a pwsync agent queue; refusing to use it');
    db.pragma(`application_id = ${APPLICATION_ID}`);
  } else if (appId !== APPLICATION_ID) {
    throw new StoreError(`the file is not a pwsync agent queue (application id ${appId.toString(16)})`);
  }
}
