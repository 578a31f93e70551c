import { z } from 'zod';
import { systemVariants } from '../connectors/registry.ts';
import { hashSpecSchema } from '../crypto/hash/spec.ts';
import { durationBetween } from '../fields/duration.ts';
import { nonBlank } from '../fields/strings.ts';
import { MATCH_MODES } from '../core/join.ts';
import { passwordPolicySchema } from '../core/password-policy.ts';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and hyphens, starting with a letter');
const attrName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, 'an attribute name');

/** A join rule: a person attribute, an account attribute, and how they are compared. */
export const joinRuleSchema = z.strictObject({
  person: attrName,
  account: attrName,
  match: z.enum(MATCH_MODES).default('exact'),
});

/** Retry policy for transient failures; the reference's defaults are 10 attempts, 60 s apart. */
export const retrySchema = z.strictObject({
  count: z.number().int().min(0).max(1000).default(10),
  interval: durationBetween(100, 7 * 86_400_000).default(60_000),
});

export const passwordSchema = z.strictObject({
  /** Whether changes are delivered to this system's accounts. */
  sync: z.boolean().default(false),
  /** For systems that store hashes: the format written. Missing on a hash-storing system → 6922. */
  hash: hashSpecSchema.optional(),
  // `prefault` parses `{}` through the schema, so each default is written once, where it belongs,
  // and every system gets objects of its own rather than one shared default.
  retry: retrySchema.prefault({}),
  /** Refuse to deliver over a connection that is not secure (the reference's "require secure connection"). */
  requireSecure: z.boolean().default(true),
  /** What the system accepts as a password, checked before each delivery (6927 when refused); see `core/password-policy.ts`. */
  policy: passwordPolicySchema.optional(),
});

export const importSchema = z.strictObject({
  /** The connector attribute (column, LDAP attribute) holding the anchor. */
  anchor: attrName,
  /**
   * pwsync attribute name → connector attribute name. Without it, every connector attribute is
   * kept under its own name (the password column never is).
   */
  map: z.record(attrName, attrName).optional(),
  /** Rows per store transaction. */
  batchSize: z.number().int().min(1).max(100_000).default(5000),
  /**
   * The deletion threshold: an import that would remove at least `count` accounts and more than
   * `percent` % of the system's stored accounts stops and removes nothing (`pwsync import
   * --allow-removals` passes it). A truncated or empty export must not unlink everyone.
   */
  removalThreshold: z
    .strictObject({
      count: z.number().int().min(1).default(10),
      percent: z.number().min(0).max(100).default(10),
    })
    .prefault({}),
  /** How long the link of a removed account is remembered, so an account that comes back is linked to its person again. */
  rememberRemovedLinks: durationBetween(0, 3_650 * 86_400_000).default(30 * 86_400_000),
});

/** An agent's name: the subject CN of its client certificate (see `pwsync pki agent`). */
export const agentName = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'lower-case letters, digits, dots and hyphens (the CN of the agent\'s certificate)');

/** How long a resolution of a source's protected groups is used by default. */
export const DEFAULT_PROTECT_REFRESH_MS = 60_000;

/**
 * Accounts of a source that no agent may change: the server's own boundary, checked at the intake
 * on the account a notification resolves to, whatever the agent's scope said. It holds when an
 * agent's host is taken. `pwsync change` by an operator is not an agent and is not held by it.
 */
export const protectSchema = z.strictObject({
  /** Logins (values of `accountAttribute`), compared as the source compares them. */
  accounts: z.array(nonBlank).default([]),
  /** Anchors, as the import stores them (an objectGUID in its text form, an entryUUID, a key). */
  anchors: z.array(nonBlank).default([]),
  /** Groups of the source's directory whose members, nested groups included, are protected (ldap sources). */
  groups: z.array(nonBlank).default([]),
  /**
   * Every entry Active Directory marks `adminCount=1` (the accounts and groups AdminSDHolder
   * protects: Domain, Enterprise and Schema Admins, Administrators, the operators' groups, krbtgt…).
   * Default: on for an ldap source of flavor ad, off elsewhere (and refused there).
   */
  adminCount: z.boolean().optional(),
  /** How long one resolution of the directory is used; it is made again in the background after half. */
  refresh: durationBetween(1000, 3_600_000).default(DEFAULT_PROTECT_REFRESH_MS),
});

/** Present on a system where passwords are born: changes captured there enter pwsync. */
export const sourceSchema = z.strictObject({
  /** The attribute a capture names an account by (a login); the anchor is always accepted too. */
  accountAttribute: attrName,
  /** How `accountAttribute` is compared (directories usually ignore case). */
  match: z.enum(['exact', 'caseInsensitive']).default('caseInsensitive'),
  /** The agents (names in `agents`) that may deliver changes of this system. */
  agents: z.array(agentName).default([]),
  /** Accounts no agent may change (see {@link protectSchema}). */
  protect: protectSchema.optional(),
});

/**
 * An agent registered with the server: its name and its client certificate. A notification is
 * accepted only from a TLS client whose certificate chains to `server.tls.clientCa`, is one of the
 * certificates in `certificate` (compared by SHA-256 fingerprint) and names a source that lists
 * this agent.
 */
export const agentSchema = z.strictObject({
  name: agentName,
  /** PEM file with the agent's client certificate; several certificates during a renewal. */
  certificate: z.string().min(1),
});

/** `host:port`, IPv6 in brackets. */
const listenSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8443 or [::1]:8443')
  .refine((listen) => portInRange(listen), 'the port must be between 1 and 65535');

/** Whether the port after the last `:` of `host:port` is one a socket can listen on: `min` (0: any free port, or 1) to 65535. */
export function portInRange(listen: string, min: 0 | 1 = 1): boolean {
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port >= min && port <= 65_535;
}

const systemBase = {
  name,
  description: z.string().max(500).optional(),
  source: sourceSchema.optional(),
  /** Whether an unlinked account that joins no one creates a person. Default: true for sources. */
  projection: z.boolean().optional(),
  import: importSchema,
  /** Ordered join rules; the first rule that finds exactly one person links. */
  join: z.array(joinRuleSchema).default([]),
  password: passwordSchema.prefault({}),
};

/**
 * One variant per connector kind, built from the registry (`connectors/registry.ts`, the one list
 * of kinds): the keys above, `connector: <kind>`, and the kind's own block under its name.
 */
export const systemSchema = z.discriminatedUnion('connector', systemVariants(systemBase));

/** The default of `server.workers` (the benchmarks run with it too). */
export const DEFAULT_WORKERS = 32;

export const storeSchema = z.union([
  z.strictObject({ sqlite: z.strictObject({ path: z.string().min(1) }) }),
]);

export const configSchema = z.strictObject({
  /** Directory for the store and key when their paths are not given; relative to the config file. */
  dataDir: z.string().min(1).default('./data'),
  store: storeSchema.optional(),
  key: z.strictObject({ file: z.string().min(1) }).optional(),
  server: z
    .strictObject({
      /**
       * Deliveries in flight at once. They wait on I/O rather than use a CPU, and a file target
       * applies the writes that arrive during one rewrite together in the next, so this is also the
       * largest write group: 8 could not keep up with 200 changes/s on one 10,000-row file (see
       * docs/benchmarks.md). Limits per target system belong to its connector.
       */
      workers: z.number().int().min(1).max(256).default(DEFAULT_WORKERS),
      /** How often workers look for new jobs in the store when nothing wakes them. */
      pollInterval: durationBetween(5, 60_000).default(25),
      /** How long a stopping server waits for deliveries in progress. */
      shutdownGrace: durationBetween(0, 3_600_000).default(10_000),
      /** Where the HTTPS intake (and `/healthz`) listens. Without it the server only delivers. */
      listen: listenSchema.optional(),
      /** PEM files; each defaults to `<dataDir>/pki/` as written by `pwsync pki init`. */
      tls: z
        .strictObject({
          cert: z.string().min(1).optional(),
          key: z.string().min(1).optional(),
          /** The CA that issued the agents' client certificates. */
          clientCa: z.string().min(1).optional(),
        })
        .prefault({}),
      intake: z
        .strictObject({
          /** The server's private JWE key (JWK, ECDH-ES P-256); default `<dataDir>/pki/server-jwe.key`. */
          jweKey: z.string().min(1).optional(),
          /**
           * Notification ids are remembered this long; an older notification is refused as stale.
           * It must exceed the agents' queue age limit (72 h by default), or changes an agent kept
           * through a long outage would be refused when the server returns.
           */
          replayWindow: durationBetween(60_000, 366 * 86_400_000).default(7 * 86_400_000),
          /** Largest request body. */
          maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
          /** Most notifications in one request. */
          maxBatch: z.number().int().min(1).max(10_000).default(500),
        })
        .prefault({}),
    })
    .prefault({}),
  agents: z.array(agentSchema).default([]),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** A file to append JSON lines to; without it, standard error. */
      file: z.string().min(1).optional(),
    })
    .prefault({}),
  systems: z.array(systemSchema).min(1, 'at least one system is needed'),
});

export type ConfigInput = z.input<typeof configSchema>;
export type RawConfig = z.output<typeof configSchema>;
export type SystemConfig = RawConfig['systems'][number];
export type ConnectorKind = SystemConfig['connector'];
export type PasswordConfig = SystemConfig['password'];

/** Whether accounts of this system create persons when they join no one: sources do unless told not to. */
export function projectsPersons(system: Pick<SystemConfig, 'projection' | 'source'>): boolean {
  return system.projection ?? system.source !== undefined;
}

/** What the server protects in one source, with its defaults applied (`source.protect`). */
export interface SourceProtectionConfig {
  readonly accounts: readonly string[];
  readonly anchors: readonly string[];
  readonly groups: readonly string[];
  readonly adminCount: boolean;
  /** Whether `adminCount` is on by default (an AD source without `protect.adminCount`), for `config check` to say so. */
  readonly adminCountByDefault: boolean;
  readonly refresh: number;
}

/**
 * The protection of a source with its defaults applied; undefined when the system is no source or
 * protects nothing. The one default: `adminCount` on an ldap source of flavor ad.
 */
export function protectionOf(system: SystemConfig): SourceProtectionConfig | undefined {
  if (system.source === undefined) return undefined;
  const p = system.source.protect;
  const ad = system.connector === 'ldap' && system.ldap.flavor === 'ad';
  const adminCount = p?.adminCount ?? ad;
  const protection = {
    accounts: p?.accounts ?? [],
    anchors: p?.anchors ?? [],
    groups: p?.groups ?? [],
    adminCount,
    adminCountByDefault: p?.adminCount === undefined && ad,
    refresh: p?.refresh ?? DEFAULT_PROTECT_REFRESH_MS,
  };
  const empty = protection.accounts.length === 0 && protection.anchors.length === 0 && protection.groups.length === 0 && !adminCount;
  return empty ? undefined : protection;
}
