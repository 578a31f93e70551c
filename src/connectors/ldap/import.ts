import { AndFilter, Control, FilterParser, GreaterThanEqualsFilter, type Filter } from 'ldapts';
import { WatermarkError } from '../../core/errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { LdapConnection } from '../../ldap-client/connection.ts';
import type { AccountDelta, AccountRecord, Watermark } from '../types.ts';
import { attributesOf, BINARY_ATTRIBUTES, textOf } from './entries.ts';
import type { LdapFlavor } from './config.ts';
import { mapLdapError } from './errors.ts';

/*
 * Reading accounts: a paged search per base DN, one page in memory at a time; and delta imports
 * from a watermark: AD's `uSNChanged` on one domain controller (with deletions, through the
 * "show deleted" control), `modifyTimestamp` elsewhere (no deletions: a full import finds them).
 */

export interface ImportPlan {
  readonly flavor: LdapFlavor;
  readonly baseDns: readonly string[];
  readonly scope: 'sub' | 'one';
  readonly filter: string;
  readonly pageSize: number;
  readonly anchor: string;
  /** The attributes to keep (`import.map`'s values); undefined keeps every one. */
  readonly names: readonly string[] | undefined;
  /** How far before a time watermark a delta starts reading. */
  readonly overlapMs: number;
}

/** AD's LDAP_SERVER_SHOW_DELETED_OID: deleted objects (tombstones) become visible to a search. */
const SHOW_DELETED = '1.2.840.113556.1.4.417';

/** An account as read, with where its entry is (the connector remembers it for writes). */
export interface LdapAccount extends AccountRecord {
  readonly dn: string;
}

/** What to ask for: the anchor, and the map's attributes or every user attribute. */
function requested(plan: ImportPlan): string[] {
  // entryUUID and nsUniqueId are operational: `*` does not return them.
  return [...new Set([plan.anchor, ...(plan.names ?? ['*'])])];
}

/**
 * Every account under the base DNs that `extra` (a delta condition) lets through. Entries without
 * an anchor are counted and skipped: an account pwsync cannot address again must not be stored.
 */
export async function* readAccounts(
  connection: LdapConnection,
  plan: ImportPlan,
  log: Logger,
  extra?: Filter,
): AsyncGenerator<LdapAccount> {
  const base = FilterParser.parseString(plan.filter);
  const filter = extra === undefined ? base : new AndFilter({ filters: [base, extra] });
  let skipped = 0;
  for (const dn of plan.baseDns) {
    const pages = connection.searchPages(dn, {
      scope: plan.scope,
      filter,
      attributes: requested(plan),
      explicitBufferAttributes: BINARY_ATTRIBUTES,
      paged: { pageSize: plan.pageSize },
    });
    try {
      for await (const page of pages) {
        for (const entry of page) {
          const anchor = textOf(entry, plan.anchor);
          if (anchor === undefined || anchor === '') {
            skipped++;
            continue;
          }
          yield { anchor, attributes: attributesOf(entry, plan.names), dn: entry.dn };
        }
      }
    } catch (e) {
      throw mapLdapError(e, dn, 'searching');
    }
  }
  if (skipped > 0) log.warn({ skipped, anchor: plan.anchor }, 'entries without the anchor attribute were skipped');
}

// Watermarks ---------------------------------------------------------------------------------

/** `time:<epoch ms>` (a directory without USNs) or `usn:<invocationId>:<usn>` (AD). */
type Parsed = { readonly kind: 'time'; readonly at: number } | { readonly kind: 'usn'; readonly invocation: string; readonly usn: bigint };

function parse(w: Watermark): Parsed {
  const time = /^time:(\d{1,16})$/.exec(w);
  if (time) return { kind: 'time', at: Number(time[1]) };
  const usn = /^usn:([0-9a-f]{32}):(\d{1,20})$/.exec(w);
  if (usn) return { kind: 'usn', invocation: usn[1] ?? '', usn: BigInt(usn[2] ?? '0') };
  throw new WatermarkError('the stored watermark is not one this connector wrote');
}

/** LDAP GeneralizedTime (UTC, whole seconds) of an instant. */
export function generalizedTime(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

interface DcPosition {
  readonly invocation: string;
  readonly usn: bigint;
  readonly namingContext: string;
}

/** The domain controller's identity (its invocationId) and its highest committed USN. */
async function dcPosition(connection: LdapConnection): Promise<DcPosition> {
  try {
    const [root] = await connection.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['highestCommittedUSN', 'dsServiceName', 'defaultNamingContext'] });
    const usn = root === undefined ? undefined : textOf(root, 'highestCommittedUSN');
    const service = root === undefined ? undefined : textOf(root, 'dsServiceName');
    const namingContext = root === undefined ? undefined : textOf(root, 'defaultNamingContext');
    if (usn === undefined || service === undefined || namingContext === undefined || !/^\d+$/.test(usn)) {
      throw new WatermarkError('the directory does not publish highestCommittedUSN and dsServiceName: is it Active Directory?');
    }
    const [settings] = await connection.search(service, { scope: 'base', filter: '(objectClass=*)', attributes: ['invocationId'], explicitBufferAttributes: ['invocationId'] });
    const id = settings?.invocationId;
    if (!Buffer.isBuffer(id) || id.length !== 16) throw new WatermarkError(`the domain controller's invocationId could not be read from ${service}`);
    return { invocation: id.toString('hex'), usn: BigInt(usn), namingContext };
  } catch (e) {
    throw mapLdapError(e, 'the root DSE', 'reading');
  }
}

/**
 * Where the directory stands now. AD: the DC's highest committed USN with its invocationId (USNs
 * are per DC, and a restored DC gets a new invocationId). Elsewhere: this clock's time; a delta
 * reads from `overlapMs` before it, for clocks that disagree and changes still being written.
 */
export async function watermarkNow(connection: LdapConnection, flavor: LdapFlavor, now: number): Promise<Watermark> {
  if (flavor !== 'ad') return `time:${now}` as Watermark;
  const position = await dcPosition(connection);
  return `usn:${position.invocation}:${position.usn}` as Watermark;
}

/** Accounts changed since `since`, then (AD, objectGUID anchors) the ones deleted since. */
export async function* readChanges(
  connection: LdapConnection,
  plan: ImportPlan,
  since: Watermark,
  log: Logger,
): AsyncGenerator<AccountDelta & ({ readonly kind: 'removed' } | { readonly kind: 'changed'; readonly record: LdapAccount })> {
  const from = parse(since);
  if (plan.flavor !== 'ad') {
    if (from.kind !== 'time') throw new WatermarkError('the stored watermark is a USN, and this directory is read by time');
    const after = new GreaterThanEqualsFilter({ attribute: 'modifyTimestamp', value: generalizedTime(from.at - plan.overlapMs) });
    for await (const record of readAccounts(connection, plan, log, after)) yield { kind: 'changed', record };
    return;
  }
  if (from.kind !== 'usn') throw new WatermarkError('the stored watermark is a time, and this directory is read by USN');
  const position = await dcPosition(connection);
  if (position.invocation !== from.invocation) {
    throw new WatermarkError('the watermark belongs to another domain controller (or one restored from a backup): its USNs do not apply here');
  }
  const after = new GreaterThanEqualsFilter({ attribute: 'uSNChanged', value: String(from.usn + 1n) });
  for await (const record of readAccounts(connection, plan, log, after)) yield { kind: 'changed', record };
  if (plan.anchor.toLowerCase() !== 'objectguid') return;
  // Tombstones keep objectGUID but lose most else and move to CN=Deleted Objects: search the whole
  // naming context; the engine ignores anchors it never imported. Only an account allowed to read
  // deleted objects sees them; to others this answers nothing (the LDAP guide says so; a probe of the
  // container cannot tell, since the container can be readable while the tombstones are not).
  const tombstones = new AndFilter({ filters: [FilterParser.parseString('(isDeleted=TRUE)'), after] });
  try {
    for await (const page of connection.searchPages(position.namingContext, {
      scope: 'sub', filter: tombstones, attributes: ['objectGUID'], explicitBufferAttributes: BINARY_ATTRIBUTES, paged: { pageSize: plan.pageSize },
    }, new Control(SHOW_DELETED, { critical: true }))) {
      for (const entry of page) {
        const anchor = textOf(entry, 'objectGUID');
        if (anchor !== undefined) yield { kind: 'removed', anchor };
      }
    }
  } catch (e) {
    throw mapLdapError(e, position.namingContext, 'searching deleted objects in');
  }
}
