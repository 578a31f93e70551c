import type { z } from 'zod';
import type { HashSpec } from '../crypto/hash/spec.ts';
import type { Capability, Connector, ConnectorContext } from './types.ts';

/**
 * What every system's configuration gives its connector besides the kind's own block: the keys
 * every system has, whatever its kind. Only what connectors (and factories standing in for them in
 * tests) read is named; the configuration (`config/schema.ts`, built from the registry) has more,
 * and its systems are assignable to this.
 */
export interface SystemSettings {
  /** The system's name in the configuration, unique there. */
  readonly name: string;
  readonly import: {
    /** The connector attribute (column, LDAP attribute) holding the anchor. */
    readonly anchor: string;
    /** pwsync attribute → connector attribute; without it every connector attribute is kept. */
    readonly map?: Readonly<Record<string, string>> | undefined;
    /** Rows per store transaction. */
    readonly batchSize: number;
  };
  readonly password: {
    /** For systems that store hashes: the format written. */
    readonly hash?: HashSpec | undefined;
    /** No password is sent over a connection that is not secure. */
    readonly requireSecure: boolean;
  };
}

/**
 * A validated system of kind `K`: the settings every system has, `connector: K`, and the kind's
 * own block (of type `Block`) under the key `K`, as in `connector: ldap` with an `ldap:` block.
 */
export type KindSystem<K extends string, Block> = SystemSettings & { readonly connector: K } & { readonly [P in K]: Block };

/**
 * A setting without which a system that takes passwords cannot write one, so that each change to
 * it would end in event `SYNC_NOT_CONFIGURED`. The configuration check warns about each.
 */
export interface PasswordRequirement {
  /** Where the setting is written, from the system: `['password', 'hash']`. */
  readonly path: readonly (string | number)[];
  /** The setting as the warning names it, with the reason where it is not obvious. */
  readonly setting: string;
}

/**
 * Everything pwsync knows about one connector kind. Each connector folder's `index.ts` exports
 * one; the registry (`registry.ts`) lists them, and the kinds, the configuration's schema of a
 * system, its password check and `createConnector` are all derived from that list.
 *
 * `K` is the kind (`ldap`), `S` the schema of the kind's block.
 */
export interface ConnectorDefinition<K extends string, S extends z.ZodType> {
  /** The value of `connector:` in the configuration, and the key of the kind's own block. */
  readonly kind: K;
  /**
   * The kind's block of a system (`ldap:`, `sql:`, …): its keys, defaults, secret fields and the
   * checks among them. Validation never connects.
   */
  readonly schema: S;
  /**
   * The abilities a connector of this kind may declare. One declares fewer where its
   * configuration leaves an ability out (an sql system without `verifyQuery` cannot verify);
   * never more (the conformance suite checks it).
   */
  readonly capabilities: ReadonlySet<Capability>;
  /**
   * Builds the connector for a validated system. Never connects: `testConnection` and the first
   * operation do. Throws `ConfigError` for what the schema could not check.
   */
  readonly create: (system: KindSystem<K, z.output<S>>, ctx: ConnectorContext) => Connector;
  /**
   * What this system lacks to take passwords (none: an empty list). Asked at configuration load
   * for each system with `password.sync`; never connects.
   */
  readonly passwordRequirements: (system: KindSystem<K, z.output<S>>) => readonly PasswordRequirement[];
}

/**
 * Returns `definition` as it is. It exists for the type: the kind stays a literal (`'ldap'`, not
 * `string`), and `create` and `passwordRequirements` are checked against the kind's own schema.
 */
export function defineConnector<K extends string, S extends z.ZodType>(definition: ConnectorDefinition<K, S>): ConnectorDefinition<K, S> {
  return definition;
}
