import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import type { ConnectorDefinition, KindSystem, PasswordRequirement } from './definition.ts';
import { file } from './file/index.ts';
import { ldap } from './ldap/index.ts';
import { sql } from './sql/index.ts';
import type { Capability, Connector, ConnectorContext } from './types.ts';

/**
 * The one list of connector kinds: the only place that knows every kind. A new kind is a folder
 * whose `index.ts` exports its definition, and one entry here; the kinds, the configuration's
 * schema of a system (`config/schema.ts`), its password check and `createConnector` follow.
 * The order is the one messages list the kinds in ("expected one of: file, ldap, sql").
 */
const DEFINITIONS = [file, ldap, sql] as const;

type AnyDefinition = (typeof DEFINITIONS)[number];

/** A connector kind: the value of `connector:` in a system's configuration. */
export type ConnectorKind = AnyDefinition['kind'];

/** The schema of the block of kind `K`. */
type SchemaOf<K extends ConnectorKind> = Extract<AnyDefinition, { readonly kind: K }>['schema'];

/**
 * The definitions by kind. Written as a mapped type so that, for a kind `K` known only as a type
 * parameter, `Definitions[K]` is the definition of `K` itself, whose functions take a
 * `ConnectorSystem<K>`.
 */
type Definitions = { readonly [K in ConnectorKind]: ConnectorDefinition<K, SchemaOf<K>> };

/** A validated system as its connector sees it; without `K`, a system of any kind. */
export type ConnectorSystem<K extends ConnectorKind = ConnectorKind> = { [P in K]: KindSystem<P, z.output<SchemaOf<P>>> }[K];

/** The kinds, in the registry's order (the order the configuration's messages list them in). */
export const CONNECTOR_KINDS: readonly ConnectorKind[] = DEFINITIONS.map((d) => d.kind);

/** The definition of `kind`. A kind not in the list cannot pass the schema; a caller that skipped it gets a ConfigError. */
function definitionOf(kind: ConnectorKind): Definitions[ConnectorKind] {
  const definition = DEFINITIONS.find((d) => d.kind === kind);
  if (definition === undefined) throw new ConfigError(`unknown connector kind "${kind}" (known: ${CONNECTOR_KINDS.join(', ')})`);
  return definition;
}

/**
 * The abilities connectors of `kind` may declare, from its definition; undefined for a kind not in
 * the list (a test's own connector). The conformance suite checks a connector against it.
 */
export function kindCapabilities(kind: string): ReadonlySet<Capability> | undefined {
  return DEFINITIONS.find((d) => d.kind === kind)?.capabilities;
}

/*
 * `create` and `requirements` take a definition and a system of one kind `K`, and are checked for
 * that kind. At their call sites `K` is the whole union, so the compiler cannot see that the two
 * belong together: `definitionOf(system.connector)` makes sure they do.
 */

function create<K extends ConnectorKind>(definition: Definitions[K], system: ConnectorSystem<K>, ctx: ConnectorContext): Connector {
  return definition.create(system, ctx);
}

function requirements<K extends ConnectorKind>(definition: Definitions[K], system: ConnectorSystem<K>): readonly PasswordRequirement[] {
  return definition.passwordRequirements(system);
}

/** Creates the connector for a configured system. Creating never connects; `testConnection` does. */
export function createConnector(system: ConnectorSystem, ctx: ConnectorContext): Connector {
  return create(definitionOf(system.connector), system, ctx);
}

/** `createConnector`, or what a test hands the engine instead of it. */
export type ConnectorFactory = (system: ConnectorSystem, ctx: ConnectorContext) => Connector;

/** What `system` lacks to take passwords, by its kind's rules (none: an empty list). Never connects. */
export function passwordRequirements(system: ConnectorSystem): readonly PasswordRequirement[] {
  return requirements(definitionOf(system.connector), system);
}

/**
 * The schema of a system of kind `K`: the keys every system has (`B`), `connector: K`, and the
 * kind's block under the key `K`. Strict, as every mapping of the configuration is.
 */
export type SystemVariant<B extends z.core.$ZodLooseShape, K extends ConnectorKind = ConnectorKind> = {
  [P in K]: z.ZodObject<z.core.util.Writeable<B & { connector: z.ZodLiteral<P> } & { readonly [Q in P]: SchemaOf<P> }>, z.core.$strict>;
}[K];

function variant<B extends z.core.$ZodLooseShape, K extends ConnectorKind>(base: B, definition: Definitions[K]): SystemVariant<B, K> {
  // The one cast of the connector registry: TypeScript types an object literal with a computed key
  // as if it had every string key; this one has exactly the key `definition.kind`, which is `K`.
  const block = { [definition.kind]: definition.schema } as { readonly [Q in K]: SchemaOf<K> };
  return z.strictObject({ ...base, connector: z.literal(definition.kind), ...block });
}

/**
 * One schema per kind for the configuration's `systems`, in the registry's order, to be joined
 * with `z.discriminatedUnion('connector', …)`: `base` holds the keys every system has.
 */
export function systemVariants<B extends z.core.$ZodLooseShape>(base: B): readonly [SystemVariant<B>, ...SystemVariant<B>[]] {
  const [first, ...rest] = DEFINITIONS;
  return [variant(base, first), ...rest.map((definition) => variant(base, definition))];
}
