/**
 * The options of bench/sql.ts and what they plan: the dialect, the phases, the rows, the hash
 * formats and how many users each, the concurrency, the database's durability; and the targets.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_WORKERS } from '../../src/config/schema.ts';
import type { Dialect } from '../../src/connectors/sql/named-params.ts';
import type { ServerSettings } from '../../test/support/connectors/sql.ts';
import { hashSpecSchema } from '../../src/crypto/hash/index.ts';
import { intOption } from '../lib.ts';

/** Targets (issue 5): 1,000,000 rows imported in under 60 s with an RSS under 500 MB; pwsync's sets at least 0.8 of the direct loop's. */
export const TARGET_IMPORT_SECONDS = 60;
export const TARGET_RSS_MB = 500;
export const TARGET_RATIO = 0.8;
/** Formats that are one salted digest (microseconds); the others are key-derivation functions. */
const DIGESTS: readonly string[] = ['{SSHA512}', '{SSHA}'];

/** The command line; unknown options are refused. */
export function readArgs() {
  return parseArgs({
    options: {
      dialect: { type: 'string', default: 'postgres' },
      phases: { type: 'string', default: 'import,sets' },
      rows: { type: 'string', default: '1000000' },
      'import-timeout': { type: 'string' },
      hash: { type: 'string', default: '{SSHA512},argon2id' },
      users: { type: 'string', default: '2000' },
      'kdf-users': { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '32' },
      clients: { type: 'string' },
      workers: { type: 'string', default: String(DEFAULT_WORKERS) },
      connections: { type: 'string', default: '2' },
      durability: { type: 'string', default: 'durable' },
      batch: { type: 'string', default: '500' },
      sample: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      profile: { type: 'boolean', default: false },
      breakdown: { type: 'boolean', default: false },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      /** Internal: the child process that imports the source of the configuration FILE. */
      'source-import': { type: 'string' },
    },
  }).values;
}

export type Args = ReturnType<typeof readArgs>;

type Durability = 'durable' | 'test';

/** What the run does; written as it is into the JSON result (`plan`). */
export interface Plan {
  readonly dialect: 'postgres' | 'mariadb';
  readonly import: boolean;
  readonly sets: boolean;
  readonly rows: number;
  /** `sql.timeout` of the import's configuration; absent, the schema's default. */
  readonly importTimeout?: string;
  readonly hashes: readonly string[];
  readonly users: number;
  readonly kdfUsers: number;
  /** Users of the formats given as `format=users` in `--hash`. */
  readonly userCounts: ReadonlyMap<string, number>;
  readonly concurrency: number;
  readonly clients: number;
  readonly workers: number;
  readonly connections: number;
  /** `durable`: the server's own defaults, every commit flushed to the disk; `test`: the test harness's `fsync=off`. */
  readonly durability: Durability;
  readonly batch: number;
  readonly sample: number;
  readonly seed: number;
}

export function parsePlan(args: Args): Plan {
  const int = intOption;
  const dialect = args.dialect;
  if (dialect !== 'postgres' && dialect !== 'mariadb') throw new Error('--dialect must be postgres or mariadb');
  const phases = args.phases.split(',').map((s) => s.trim());
  for (const p of phases) if (p !== 'import' && p !== 'sets') throw new Error('--phases lists import and/or sets');
  // `format` or `format=users` (a slow key-derivation function at its defaults needs fewer users).
  const userCounts = new Map<string, number>();
  const hashes = args.hash
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const [format = '', count] = item.split('=');
      hashSpecSchema.parse(format);
      if (count !== undefined) userCounts.set(format, int(`hash ${format}`, count, 1));
      return format;
    });
  const connections = int('connections', args.connections, 1);
  const durability = args.durability;
  if (durability !== 'durable' && durability !== 'test') throw new Error('--durability must be durable or test');
  const plan: Plan = {
    dialect,
    durability,
    import: phases.includes('import'),
    sets: phases.includes('sets'),
    rows: int('rows', args.rows, 1),
    ...(args['import-timeout'] === undefined ? {} : { importTimeout: args['import-timeout'] }),
    hashes,
    users: int('users', args.users, 1),
    kdfUsers: int('kdf-users', args['kdf-users'], 1),
    userCounts,
    concurrency: int('concurrency', args.concurrency, 1),
    clients: int('clients', args.clients ?? String(connections), 1),
    workers: int('workers', args.workers, 1),
    connections,
    batch: int('batch', args.batch, 1),
    sample: int('sample', args.sample, 1),
    seed: int('seed', args.seed, 0),
  };
  if (plan.sets && hashes.length === 0) throw new Error('--hash names no format');
  if (plan.sets && Math.max(plan.users, plan.kdfUsers, ...userCounts.values()) > plan.rows) throw new Error('--rows must be at least --users, --kdf-users and every format=users');
  return plan;
}

/** The users of `format`'s sets: its own `format=N`, else `--users` for a digest and `--kdf-users` for a key derivation. */
export function usersFor(plan: Plan, format: string): number {
  return plan.userCounts.get(format) ?? (DIGESTS.includes(format) ? plan.users : plan.kdfUsers);
}

/**
 * The settings over the harness's for `durability`. `durable` gives back what the harness turns off
 * for speed, the servers' own defaults: PostgreSQL flushes the WAL at every commit (`fsync`,
 * `synchronous_commit`), MariaDB its redo log (`innodb_flush_log_at_trx_commit=1`). A production
 * database runs so; the direct loop and pwsync pay the same flush per commit.
 */
export function durabilitySettings(dialect: Dialect, durability: Durability): ServerSettings {
  if (durability === 'test') return {};
  return dialect === 'postgres' ? { fsync: 'on', synchronous_commit: 'on' } : { 'innodb-flush-log-at-trx-commit': '1' };
}
