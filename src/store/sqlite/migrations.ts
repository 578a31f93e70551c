import { schemaVersion, type Migration } from '../../sqlite/migrations.ts';
import { eventLog } from './events.ts';

// Conventions: times are integer epoch ms; attributes are JSON text on the owning row. Only the
// lookups the engine declared (lookups) have keys, one row per owner and lookup in account_keys or
// person_keys under one covering index, so join lookups never scan and an import maintains no index
// it will not use (keys.ts keeps them in step with the JSON in the same transaction). Open jobs
// (pending, in_progress, retry_scheduled) keep their change's sealed secret; the store sets it to
// NULL when the last one ends, and secure_delete overwrites the bytes.
const V1 = `
CREATE TABLE persons (
  seq         INTEGER PRIMARY KEY,
  id          TEXT    NOT NULL UNIQUE,
  attributes  TEXT    NOT NULL,
  created_at  INTEGER NOT NULL
);

-- A declared lookup: accounts of a system (system set) or persons (system NULL) by one attribute
-- under one match mode. Keys exist for declared lookups only.
CREATE TABLE lookups (
  id         INTEGER PRIMARY KEY,
  system     TEXT,
  attribute  TEXT    NOT NULL,
  mode       TEXT    NOT NULL CHECK (mode IN ('exact', 'caseInsensitive', 'normalized')),
  UNIQUE (system, attribute, mode)
);

-- The covering index ends with the owner: a lookup reads no table row, and a key is found again
-- for deletion from the owner's stored JSON. WITHOUT ROWID: the index is the table.
CREATE TABLE person_keys (
  lookup_id   INTEGER NOT NULL,
  key         TEXT    NOT NULL,
  person_seq  INTEGER NOT NULL,
  PRIMARY KEY (lookup_id, key, person_seq)
) WITHOUT ROWID;

-- An account has at most one link, so the link lives on the account row: one row to read for
-- an account with its person, and removing the account removes its link.
CREATE TABLE accounts (
  id               INTEGER PRIMARY KEY,
  system           TEXT    NOT NULL,
  anchor           TEXT    NOT NULL,
  attributes       TEXT    NOT NULL,
  import_run       TEXT    NOT NULL,
  imported_at      INTEGER NOT NULL,
  last_applied_at  INTEGER,
  person_seq       INTEGER REFERENCES persons (seq),
  link_kind        TEXT    CHECK (link_kind IN ('projection', 'join', 'manual')),
  link_rule        INTEGER,
  linked_at        INTEGER,
  UNIQUE (system, anchor),
  CHECK ((person_seq IS NULL) = (link_kind IS NULL) AND (person_seq IS NULL) = (linked_at IS NULL))
);
CREATE INDEX accounts_person ON accounts (person_seq) WHERE person_seq IS NOT NULL;

CREATE TABLE account_keys (
  lookup_id   INTEGER NOT NULL,
  key         TEXT    NOT NULL,
  account_id  INTEGER NOT NULL,
  PRIMARY KEY (lookup_id, key, account_id)
) WITHOUT ROWID;

CREATE TABLE changes (
  id             TEXT    PRIMARY KEY,
  source_system  TEXT    NOT NULL,
  source_anchor  TEXT    NOT NULL,
  person_id      TEXT    NOT NULL,
  changed_at     INTEGER NOT NULL,
  received_at    INTEGER NOT NULL,
  origin         TEXT    NOT NULL CHECK (origin IN ('source', 'admin', 'self')),
  actor          TEXT    NOT NULL,
  key_id         TEXT,
  secret         BLOB,
  wiped_at       INTEGER,
  CHECK ((key_id IS NULL) = (secret IS NULL))
);
CREATE INDEX changes_sealed ON changes (id) WHERE secret IS NOT NULL;

-- Jobs keep their target's system, anchor and person: they are the delivery history and outlive
-- an account removed from its system, so account_id is deliberately not a foreign key.
-- AUTOINCREMENT: a job id held by a worker must never name another job later.
CREATE TABLE jobs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  change_id      TEXT    NOT NULL REFERENCES changes (id),
  account_id     INTEGER NOT NULL,
  system         TEXT    NOT NULL,
  anchor         TEXT    NOT NULL,
  person_id      TEXT    NOT NULL,
  changed_at     INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  attempts       INTEGER NOT NULL DEFAULT 0,
  state          TEXT    NOT NULL
                 CHECK (state IN ('pending', 'in_progress', 'retry_scheduled', 'done', 'failed', 'superseded')),
  worker         TEXT,
  since          INTEGER,
  next_at        INTEGER,
  last_error     TEXT,
  ended_at       INTEGER,
  event          INTEGER,
  superseded_by  TEXT,
  CHECK (state <> 'in_progress' OR (worker IS NOT NULL AND since IS NOT NULL)),
  CHECK (state <> 'retry_scheduled' OR (next_at IS NOT NULL AND last_error IS NOT NULL)),
  CHECK (state NOT IN ('done', 'failed', 'superseded') OR ended_at IS NOT NULL),
  CHECK (state <> 'failed' OR (event IS NOT NULL AND last_error IS NOT NULL)),
  CHECK (state <> 'superseded' OR superseded_by IS NOT NULL)
);
-- Claiming walks due jobs in change order without sorting; the query repeats this WHERE term
-- verbatim so that SQLite may use the partial index.
CREATE INDEX jobs_due ON jobs (changed_at, id) WHERE state IN ('pending', 'retry_scheduled');
CREATE INDEX jobs_next_retry ON jobs (next_at) WHERE state = 'retry_scheduled';
CREATE INDEX jobs_account ON jobs (account_id, state);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_change ON jobs (change_id);
CREATE INDEX jobs_person ON jobs (person_id);
CREATE INDEX jobs_system ON jobs (system);

-- The event log (src/sqlite/events.ts).
${eventLog.createTableSql(['system', 'personId', 'changeId'])}

CREATE TABLE notifications (
  id  TEXT    PRIMARY KEY,
  at  INTEGER NOT NULL
);
CREATE INDEX notifications_at ON notifications (at);
`;

// Where each system's change history stood at its last successful import (a connector's opaque
// watermark), for delta imports. Not tied to accounts: a system that is no longer configured
// leaves a row that nothing reads.
const V2 = `
CREATE TABLE import_watermarks (
  system      TEXT    PRIMARY KEY,
  watermark   TEXT    NOT NULL,
  updated_at  INTEGER NOT NULL
);
`;

// The links of accounts removed from their system, remembered so that an account that comes back
// (a truncated export restored, an account disabled then enabled) is linked to its person again
// instead of projecting a new one. One per account; the importer forgets them after
// `import.rememberRemovedLinks`. Persons are never deleted, so person_seq stays valid.
const V3 = `
CREATE TABLE removed_links (
  system      TEXT    NOT NULL,
  anchor      TEXT    NOT NULL,
  person_seq  INTEGER NOT NULL REFERENCES persons (seq),
  link_kind   TEXT    NOT NULL CHECK (link_kind IN ('projection', 'join', 'manual')),
  link_rule   INTEGER,
  removed_at  INTEGER NOT NULL,
  PRIMARY KEY (system, anchor)
);
CREATE INDEX removed_links_at ON removed_links (system, removed_at);
`;

/** Every migration, in order. The last one's version is the schema this program writes. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, sql: V1 },
  { version: 2, sql: V2 },
  { version: 3, sql: V3 },
];

export const SCHEMA_VERSION = schemaVersion(MIGRATIONS);
