import { EqualityFilter, type Entry, type Filter } from 'ldapts';
import type { Anchor, Attributes } from '../../core/model.ts';
import { guidFromString, guidToString, sidFromString, sidToString } from '../../ldap-client/ad.ts';

/*
 * From directory entries to accounts: the anchor in its usual text form, the attributes the join
 * rules read, and back from an anchor to a search filter.
 */

/** Attributes that hold binary values pwsync shows in their usual text form. */
const BINARY: Readonly<Record<string, { toText: (b: Buffer) => string | undefined; fromText: (t: string) => Buffer }>> = {
  objectguid: { toText: guidToString, fromText: guidFromString },
  objectsid: { toText: sidToString, fromText: sidFromString },
};

/** Never imported, whatever the map says: secrets and their hashes. */
const NEVER = /password|^unicodepwd$|^supplementalcredentials$|^dbcspwd$|^ntpwdhistory$|^lmpwdhistory$/i;

/** The attribute names ldapts must hand over as bytes. */
export const BINARY_ATTRIBUTES = ['objectGUID', 'objectSid'];

/** Whether `name` may be imported at all. */
export function importable(name: string): boolean {
  return !NEVER.test(name);
}

/** Every value of an attribute, whatever the case of its name. */
function valuesOf(entry: Entry, name: string): (string | Buffer)[] {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(entry)) {
    if (key.toLowerCase() !== wanted) continue;
    return Array.isArray(value) ? value : [value];
  }
  return [];
}

/** The first value of an attribute as text; binary ones in their usual form. `dn` is the entry's DN. */
export function textOf(entry: Entry, name: string): string | undefined {
  if (name.toLowerCase() === 'dn') return entry.dn;
  const value = valuesOf(entry, name)[0];
  if (value === undefined) return undefined;
  const binary = BINARY[name.toLowerCase()];
  if (Buffer.isBuffer(value)) return binary ? binary.toText(value) : value.toString('base64');
  return value;
}

/**
 * The attributes of an entry for the store: the names asked for (`import.map`'s values), or
 * without a map every attribute the server returned; first values only; never a password.
 */
export function attributesOf(entry: Entry, names: readonly string[] | undefined): Attributes {
  const out: Record<string, string> = {};
  const wanted = names ?? Object.keys(entry).filter((k) => k !== 'dn');
  for (const name of wanted) {
    if (!importable(name)) continue;
    const value = textOf(entry, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * A filter matching the entry whose `attribute` holds `anchor`, or undefined when no entry could
 * (text that is not a GUID for objectGUID). A filter object, not text: the value travels as bytes.
 */
export function anchorFilter(attribute: string, anchor: Anchor): Filter | undefined {
  const binary = BINARY[attribute.toLowerCase()];
  if (binary === undefined) return new EqualityFilter({ attribute, value: anchor });
  try {
    return new EqualityFilter({ attribute, value: binary.fromText(anchor) });
  } catch {
    return undefined;
  }
}
