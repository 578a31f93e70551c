import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { kindCapabilities, passwordRequirements } from '../connectors/registry.ts';
import { EVENT } from '../core/events.ts';
import { closest, type PendingProblem } from './problems.ts';
import { projectsPersons, type RawConfig, type SystemConfig } from './schema.ts';

/**
 * The rules a schema cannot say: between fields and between systems.
 *
 * `systems[i]` is undefined where that system did not pass the schema; rules about one system are
 * still checked on the others, rules about all of them only when every one passed, so that a
 * problem is never reported because of another.
 */
export function checkSemantics(systems: readonly (SystemConfig | undefined)[], raw: readonly unknown[], baseDir: string): { problems: PendingProblem[]; warnings: PendingProblem[] } {
  const problems: PendingProblem[] = [];
  const warnings: PendingProblem[] = [];
  const firstByName = new Map<string, number>();
  const facts = systems.map((system, i) => factsOf(system, raw[i]));

  // Rules between systems run on every system, from what each says of itself even where another
  // key of it failed the schema: one pass shows every problem.
  facts.forEach((fact, i) => {
    if (fact.name === undefined) return;
    const first = firstByName.get(fact.name);
    if (first === undefined) firstByName.set(fact.name, i);
    else problems.push({ code: 'DUPLICATE_SYSTEM', path: ['systems', i, 'name'], message: `system name "${fact.name}" is already used by systems[${first}]` });
  });

  systems.forEach((system, i) => {
    if (system === undefined) return;
    const at = (...rest: (string | number)[]) => ['systems', i, ...rest];

    const map = system.import.map;
    if (map !== undefined) {
      const imported = Object.keys(map);
      system.join.forEach((rule, j) => {
        if (!Object.hasOwn(map, rule.account)) {
          problems.push({
            code: 'JOIN_ATTRIBUTE_NOT_IMPORTED',
            path: at('join', j, 'account'),
            message: `account attribute "${rule.account}" is not imported: import.map has ${imported.length > 0 ? imported.join(', ') : 'no attributes'}`,
          });
        }
      });
    }

    if (system.source !== undefined && system.password.sync) {
      problems.push({
        code: 'SYNC_INTO_SOURCE',
        path: at('password', 'sync'),
        message:
          'a source system cannot also receive passwords: a change would flow back into the system it came from, ' +
          'and pwsync, like the reference, does not synchronise both ways. Remove "password.sync: true" here, ' +
          'or remove "source" if passwords are not changed in this system',
      });
    }

    problems.push(...protectProblems(system, i));
    problems.push(...passwordColumnProblems(system, i));

    if (!projectsPersons(system) && system.password.sync && system.join.length === 0) {
      problems.push({
        code: 'SYNC_WITHOUT_JOIN',
        path: at('password', 'sync'),
        message: 'password sync is enabled but the system has no join rules and does not project, so none of its accounts can be linked to a person; add join rules',
      });
    }

    if (system.password.sync) warnings.push(...notConfigured(system, i));
    if (!system.password.requireSecure) {
      warnings.push({ code: 'INSECURE_ALLOWED', path: at('password', 'requireSecure'), message: 'passwords may cross an insecure connection to this system' });
    }
  });

  problems.push(...sharedFileProblems(systems, baseDir));

  const projecting = facts.flatMap((f, i) => (f.projects === true ? [i] : []));
  // The first projecting system creates the persons; any later one would create a second person
  // for everyone it cannot join to the first.
  for (const i of projecting.slice(1)) {
    if (facts[i]?.joins !== 0) continue;
    const explicit = hasKey(raw[i], 'projection');
    problems.push({
      code: 'PROJECTION_WITHOUT_JOIN',
      path: ['systems', i, explicit ? 'projection' : 'source'],
      message: `this system projects persons after systems[${projecting[0] ?? 0}] but has no join rules, so each of its accounts would create a duplicate person; add join rules${explicit ? '' : ' or set "projection: false"'}`,
    });
  }

  problems.push(...joinPersonProblems(systems, facts));

  const firstSync = facts.findIndex((f) => f.sync === true);
  if (firstSync >= 0 && facts.every((f) => f.isSource === false)) {
    problems.push({
      code: 'SYNC_WITHOUT_SOURCE',
      path: ['systems', firstSync, 'password', 'sync'],
      message: 'password sync is enabled but no system is a source, so no change will ever arrive; add "source" to the system where passwords are changed',
    });
  }
  return { problems, warnings };
}

/**
 * What the rules between systems need to know of one system: from the validated system, or, where
 * it failed the schema, from the keys it wrote that are of the right type (undefined: unknown, and
 * no rule concludes from it).
 */
interface SystemFacts {
  readonly name: string | undefined;
  readonly isSource: boolean | undefined;
  readonly projects: boolean | undefined;
  readonly joins: number | undefined;
  readonly sync: boolean | undefined;
  /** The attributes its accounts bring to the persons they project; undefined when every attribute is kept (no map). */
  readonly attributes: readonly string[] | undefined;
  readonly joinPersons: readonly { readonly j: number; readonly person: string }[];
}

function factsOf(system: SystemConfig | undefined, raw: unknown): SystemFacts {
  if (system !== undefined) {
    return {
      name: system.name,
      isSource: system.source !== undefined,
      projects: projectsPersons(system),
      joins: system.join.length,
      sync: system.password.sync,
      attributes: system.import.map === undefined ? undefined : Object.keys(system.import.map),
      joinPersons: system.join.map((rule, j) => ({ j, person: rule.person })),
    };
  }
  const field = (value: unknown, key: string): unknown => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined);
  const name = field(raw, 'name');
  const source = field(raw, 'source');
  const projection = field(raw, 'projection');
  const join = field(raw, 'join');
  const sync = field(field(raw, 'password'), 'sync');
  const importBlock = field(raw, 'import');
  const map = field(importBlock, 'map');
  const isSource = source === undefined ? false : typeof source === 'object' && source !== null ? true : undefined;
  const joins = join === undefined ? 0 : Array.isArray(join) ? join.length : undefined;
  return {
    name: typeof name === 'string' ? name : undefined,
    isSource,
    projects: typeof projection === 'boolean' ? projection : projection === undefined ? isSource : undefined,
    joins,
    sync: sync === undefined ? false : typeof sync === 'boolean' ? sync : undefined,
    attributes: typeof map === 'object' && map !== null && !Array.isArray(map) ? Object.keys(map) : undefined,
    joinPersons: Array.isArray(join) ? join.flatMap((rule: unknown, j) => (typeof field(rule, 'person') === 'string' ? [{ j, person: field(rule, 'person') as string }] : [])) : [],
  };
}

/**
 * A join rule's person attribute is one that persons have: an attribute the projecting systems
 * import. A typo there joined no one ("JOINED 0") with no other sign.
 */
function joinPersonProblems(systems: readonly (SystemConfig | undefined)[], facts: readonly SystemFacts[]): PendingProblem[] {
  const projecting = facts.filter((f) => f.projects === true);
  if (projecting.length === 0 || facts.some((f) => f.projects === undefined)) return [];
  const known = new Set<string>();
  for (const f of projecting) {
    // A projecting system without a map brings whatever its accounts have: nothing to check against.
    if (f.attributes === undefined) return [];
    for (const a of f.attributes) known.add(a);
  }
  const names = projecting.map((f) => f.name ?? '?').join(', ');
  return facts.flatMap((f, i) =>
    systems[i] === undefined && f.joinPersons.length === 0
      ? []
      : f.joinPersons.flatMap(({ j, person }) => {
          if (known.has(person)) return [];
          const guess = closest(person, known);
          return [
            {
              code: 'JOIN_PERSON_ATTRIBUTE_UNKNOWN' as const,
              path: ['systems', i, 'join', j, 'person'],
              message: `persons have no attribute "${person}": they have what ${names} import${projecting.length === 1 ? 's' : ''} (${[...known].join(', ')})${guess === undefined ? '' : `; did you mean "${guess}"?`}`,
            },
          ];
        }),
  );
}

/** A warning for each setting the system's kind needs to write a password (`passwordRequirements` in its definition). */
function notConfigured(system: SystemConfig, i: number): PendingProblem[] {
  return passwordRequirements(system).map(({ path, setting }) => ({
    code: 'PASSWORD_NOT_CONFIGURED',
    path: ['systems', i, ...path],
    message: `password sync is enabled without ${setting}: changes to this system will end in event ${EVENT.SYNC_NOT_CONFIGURED}`,
  }));
}

function hasKey(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key);
}

/** The agents' default queue age limit; a shorter replay window would refuse what they kept. */
const AGENT_QUEUE_MAX_AGE_MS = 72 * 3_600_000;

/**
 * Agents and the intake: names unique, every source's agents registered, the intake reachable.
 * Takes the document as written (names that are strings count), so that it runs whatever else
 * failed; `server` is the validated server block, undefined when it failed.
 */
export function checkAgents(data: unknown, server: RawConfig['server'] | undefined): { problems: PendingProblem[]; warnings: PendingProblem[] } {
  const problems: PendingProblem[] = [];
  const warnings: PendingProblem[] = [];
  const firstByName = new Map<string, number>();
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
  const field = (value: unknown, key: string): unknown => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined);
  list(field(data, 'agents')).forEach((agent, i) => {
    const name = field(agent, 'name');
    if (typeof name !== 'string') return;
    const first = firstByName.get(name);
    if (first === undefined) firstByName.set(name, i);
    else problems.push({ code: 'DUPLICATE_AGENT', path: ['agents', i, 'name'], message: `agent name "${name}" is already used by agents[${first}]` });
  });
  const agentsValid = field(data, 'agents') === undefined || Array.isArray(field(data, 'agents'));
  list(field(data, 'systems')).forEach((system, i) => {
    list(field(field(system, 'source'), 'agents')).forEach((name, j) => {
      if (typeof name !== 'string') return;
      if (firstByName.has(name) || !agentsValid) return;
      const known = [...firstByName.keys()];
      problems.push({
        code: 'UNKNOWN_AGENT',
        path: ['systems', i, 'source', 'agents', j],
        message: `agent "${name}" is not registered: add it to "agents" with its certificate${known.length > 0 ? ` (registered: ${known.join(', ')})` : ''}`,
      });
    });
  });
  if (server === undefined) return { problems, warnings };
  const speaking = list(field(data, 'systems')).some((system) => list(field(field(system, 'source'), 'agents')).some((name) => typeof name === 'string'));
  if (speaking && server.listen === undefined) {
    warnings.push({ code: 'INTAKE_OFF', path: ['server'], message: 'sources name agents but server.listen is not set, so the intake is off and no agent can deliver' });
  }
  if (server.intake.replayWindow < AGENT_QUEUE_MAX_AGE_MS) {
    warnings.push({
      code: 'REPLAY_WINDOW_SHORT',
      path: ['server', 'intake', 'replayWindow'],
      message: 'the replay window is shorter than the agents\' default queue age limit (72h): changes an agent kept through a long outage would be refused as stale',
    });
  }
  return { problems, warnings };
}

/** `source.protect` asks only what the source's kind can answer: groups of a directory, AD's adminCount. */
function protectProblems(system: SystemConfig, i: number): PendingProblem[] {
  const protect = system.source?.protect;
  if (protect === undefined) return [];
  const at = ['systems', i, 'source', 'protect'];
  const problems: PendingProblem[] = [];
  if (protect.groups.length > 0 && kindCapabilities(system.connector)?.has('groupMembers') !== true) {
    problems.push({ code: 'PROTECT_GROUPS_UNSUPPORTED', path: [...at, 'groups'], message: `a ${system.connector} system has no groups: name the protected accounts in protect.accounts or protect.anchors` });
  }
  const ad = system.connector === 'ldap' && system.ldap.flavor === 'ad';
  if (protect.adminCount === true && !ad) {
    problems.push({ code: 'PROTECT_ADMINCOUNT_UNSUPPORTED', path: [...at, 'adminCount'], message: 'adminCount is Active Directory\'s mark of privileged accounts: only an ldap source of flavor ad has it' });
  }
  return problems;
}

/**
 * A file system's password column holds nothing else: not the anchor, a mapped column, a joined
 * column or the source's account column. A hash written there would replace what the import reads.
 */
function passwordColumnProblems(system: SystemConfig, i: number): PendingProblem[] {
  if (system.connector !== 'file' || system.file.passwordColumn === undefined) return [];
  const column = system.file.passwordColumn;
  const map = system.import.map;
  const columnOf = (attribute: string): string => (map === undefined ? attribute : (map[attribute] ?? attribute));
  const uses: string[] = [];
  if (system.import.anchor === column) uses.push('the anchor (import.anchor)');
  for (const [attribute, mapped] of Object.entries(map ?? {})) if (mapped === column) uses.push(`import.map.${attribute}`);
  system.join.forEach((rule, j) => {
    if (columnOf(rule.account) === column) uses.push(`join[${j}].account`);
  });
  if (system.source !== undefined && columnOf(system.source.accountAttribute) === column) uses.push('source.accountAttribute');
  if (uses.length === 0) return [];
  return [
    {
      code: 'PASSWORD_COLUMN_IN_USE',
      path: ['systems', i, 'file', 'passwordColumn'],
      message: `the password column "${column}" is also ${[...new Set(uses)].join(', ')}: a password hash written there would replace what the import reads; name a column of its own`,
    },
  ];
}

/** Files that one system reads and writes, by the configuration path that names each. */
export function systemFiles(system: SystemConfig, i: number, baseDir: string): { path: (string | number)[]; file: string }[] {
  if (system.connector !== 'file') return [];
  return [{ path: ['systems', i, 'file', 'path'], file: canonicalPath(resolve(baseDir, system.file.path)) }];
}

/** Two systems on one file: each would rewrite what the other reads (a target's hash in a source's column). */
function sharedFileProblems(systems: readonly (SystemConfig | undefined)[], baseDir: string): PendingProblem[] {
  const problems: PendingProblem[] = [];
  const owners = new Map<string, number>();
  systems.forEach((system, i) => {
    if (system === undefined) return;
    for (const { path, file } of systemFiles(system, i, baseDir)) {
      const first = owners.get(file);
      if (first === undefined) owners.set(file, i);
      else problems.push(sharedFile(path, file, `systems[${first}] (${systems[first]?.name ?? ''})`));
    }
  });
  return problems;
}

export function sharedFile(path: (string | number)[], file: string, owner: string): PendingProblem {
  return { code: 'SHARED_FILE', path, message: `the same file as ${owner} (${file}): two users of one file would overwrite each other's data; give each system a file of its own` };
}

/**
 * The path a file is reached by once `..` and symbolic links are resolved: the real path of its
 * nearest existing ancestor with the rest appended, so that a file not yet created compares too.
 */
export function canonicalPath(path: string): string {
  const rest: string[] = [];
  let current = resolve(path);
  for (;;) {
    try {
      return join(realpathSync.native(current), ...rest.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return resolve(path);
      rest.push(basename(current));
      current = parent;
    }
  }
}
