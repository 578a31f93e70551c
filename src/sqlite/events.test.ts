import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { EVENT, EVENTS, type EventCode } from '../core/events.ts';
import type { Ctx } from './context.ts';
import { Sqlite } from './db.ts';
import { EventLog, MAX_EVENT_MESSAGE_CHARS, type EventField } from './events.ts';

const WIDE = ['system', 'anchor', 'personId', 'changeId', 'jobId'] as const;

/** An in-memory database with the table `log` creates, the clock at 1,000. */
function withLog<F extends EventField>(log: EventLog<F>, fn: (ctx: Ctx) => void): void {
  const sql = new Sqlite(new Database(':memory:'));
  try {
    sql.raw.exec(log.createTableSql([]));
    fn({ sql, now: () => 1000, wiped: () => undefined });
  } finally {
    sql.close();
  }
}

void describe('event log', () => {
  // Both are part of released first migrations (the server's store, the agent's queue): a file
  // made by an older pwsync has exactly these, so they must never change.
  void test('creates the table the released migrations created, to the letter', () => {
    assert.equal(
      new EventLog(WIDE, 'the store').createTableSql(['changeId', 'system', 'personId']),
      `CREATE TABLE events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  code       INTEGER NOT NULL,
  severity   TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
  system     TEXT,
  anchor     TEXT,
  person_id  TEXT,
  change_id  TEXT,
  job_id     INTEGER,
  message    TEXT    NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_code ON events (code);
CREATE INDEX events_system ON events (system);
CREATE INDEX events_person ON events (person_id);
CREATE INDEX events_change ON events (change_id);`,
    );
    assert.equal(
      new EventLog(['changeId', 'system', 'anchor'], 'the agent queue').createTableSql([]),
      `CREATE TABLE events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  code       INTEGER NOT NULL,
  severity   TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
  system     TEXT,
  anchor     TEXT,
  change_id  TEXT,
  message    TEXT    NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_code ON events (code);`,
    );
  });

  void test('writes fields from the event, then from the defaults, then null; the message defaults to the code text', () => {
    const log = new EventLog(WIDE, 'the store');
    withLog(log, (ctx) => {
      log.insert(ctx, { code: EVENT.CHANGE_ACCEPTED, message: 'accepted', system: 'corp', jobId: null }, { system: 'other', personId: 'p1', jobId: 7 });
      log.append(ctx, [{ code: EVENT.SUPERSEDED, at: 5 }]);
      assert.deepEqual(log.list(ctx, { limit: 10 }), [
        { id: 1, at: 1000, code: EVENT.CHANGE_ACCEPTED, severity: EVENTS[EVENT.CHANGE_ACCEPTED].severity, system: 'corp', anchor: null, personId: 'p1', changeId: null, jobId: 7, message: 'accepted' },
        { id: 2, at: 5, code: EVENT.SUPERSEDED, severity: EVENTS[EVENT.SUPERSEDED].severity, system: null, anchor: null, personId: null, changeId: null, jobId: null, message: EVENTS[EVENT.SUPERSEDED].text },
      ]);
    });
  });

  void test('shows only its own fields, in the order the model has them', () => {
    const log = new EventLog(['changeId', 'system', 'anchor'], 'the agent queue');
    withLog(log, (ctx) => {
      log.insert(ctx, { code: EVENT.QUEUE_FULL, system: 'corp', anchor: 'alice', changeId: 'c1' });
      const [event] = log.list(ctx, { limit: 1 });
      assert.deepEqual(Object.keys(event ?? {}), ['id', 'at', 'code', 'severity', 'system', 'anchor', 'changeId', 'message']);
    });
  });

  void test('lists the newest in the order they happened, follows after an id, and filters', () => {
    const log = new EventLog(WIDE, 'the store');
    withLog(log, (ctx) => {
      const codes: EventCode[] = [EVENT.CHANGE_ACCEPTED, EVENT.QUEUE_FULL, EVENT.CHANGE_ACCEPTED, EVENT.SUPERSEDED];
      log.append(ctx, codes.map((code, i) => ({ code, at: 10 * (i + 1), system: i % 2 === 0 ? 'a' : 'b' })));
      const ids = (filter: Parameters<typeof log.list>[1]): number[] => log.list(ctx, filter).map((e) => e.id);
      assert.deepEqual(ids({ limit: 2 }), [3, 4]);
      assert.deepEqual(ids({ limit: 2, afterId: 1 }), [2, 3]);
      assert.deepEqual(ids({ limit: 10, codes: [EVENT.CHANGE_ACCEPTED] }), [1, 3]);
      assert.deepEqual(ids({ limit: 10, codes: [] }), []);
      assert.deepEqual(ids({ limit: 10, severities: [] }), []);
      assert.deepEqual(ids({ limit: 10, system: 'b', since: 30 }), [4]);
      assert.throws(() => log.list(ctx, { limit: 1.5 }), { code: 'ERR_INVALID_INPUT' });
    });
  });

  void test('refuses an unknown code on the way in and on the way out', () => {
    const log = new EventLog(['system'], 'the agent queue');
    withLog(log, (ctx) => {
      assert.throws(() => log.insert(ctx, { code: 1234 as EventCode }), { code: 'ERR_INVALID_INPUT' });
      ctx.sql.raw.prepare("INSERT INTO events (at, code, severity, message) VALUES (1, 1234, 'info', 'x')").run();
      assert.throws(() => log.list(ctx, { limit: 1 }), { code: 'ERR_STORE' });
    });
  });

  void test('forgets events older than a time', () => {
    const log = new EventLog(['system'], 'the agent queue');
    withLog(log, (ctx) => {
      log.append(ctx, [{ code: EVENT.QUEUE_FULL, at: 1 }, { code: EVENT.QUEUE_FULL, at: 2 }, { code: EVENT.QUEUE_FULL, at: 3 }]);
      assert.equal(log.prune(ctx, 3), 2);
      assert.deepEqual(log.list(ctx, { limit: 10 }).map((e) => e.at), [3]);
    });
  });

  void test('stores no control character in a message, whoever made it, and cuts a message past its limit', () => {
    const log = new EventLog(['anchor'], 'the store');
    withLog(log, (ctx) => {
      log.insert(ctx, { code: EVENT.CHANGE_REJECTED, message: 'refused: \x1b[2J\nFAKE 7002 password set\r\u202e\x9b' });
      log.insert(ctx, { code: EVENT.CHANGE_REJECTED, message: 'x'.repeat(12 * 1024) });
      const [escaped, long] = log.list(ctx, { limit: 10 });
      assert.equal(escaped?.message, 'refused: \\x1b[2J\\nFAKE 7002 password set\\r\\u202e\\x9b');
      assert.equal(long?.message.length, MAX_EVENT_MESSAGE_CHARS);
      assert.ok(long.message.endsWith('…'));
    });
  });
});
