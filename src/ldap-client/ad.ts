/*
 * Active Directory's primary group. AD does not list a user in the `member` attribute of the
 * user's primary group (normally "Domain Users", RID 513): the membership is implied by the user's
 * `primaryGroupID` (a RID) and is seen only by combining it with the domain part of the user's
 * `objectSid`. A walk over `member` alone would call every user outside "Domain Users" — the
 * reference's classic include group — and see it as empty at start. These helpers compute the
 * primary group's SID; the LDAP scope looks the group up by that SID.
 */

/** The fixed part of a binary SID: revision, sub-authority count, 48-bit identifier authority. */
const HEADER = 8;
const MAX_SUB_AUTHORITIES = 15;

function valid(sid: Uint8Array): boolean {
  const count = sid[1] ?? -1;
  return sid.length >= HEADER && sid[0] === 1 && count >= 1 && count <= MAX_SUB_AUTHORITIES && sid.length === HEADER + 4 * count;
}

/** `S-1-5-21-…` for a binary SID (MS-DTYP 2.4.2.2); undefined when it is not one. */
export function sidToString(sid: Uint8Array): string | undefined {
  if (!valid(sid)) return undefined;
  const bytes = Buffer.from(sid);
  const authority = bytes.readUIntBE(2, 6);
  const subs: number[] = [];
  for (let offset = HEADER; offset < bytes.length; offset += 4) subs.push(bytes.readUInt32LE(offset));
  return `S-1-${authority}-${subs.join('-')}`;
}

/** The binary form of `S-1-…`; throws when malformed. */
export function sidFromString(text: string): Buffer {
  const parts = /^S-1-(\d+)((?:-\d+)+)$/i.exec(text);
  const authority = Number(parts?.[1]);
  const subs = (parts?.[2] ?? '').split('-').slice(1).map(Number);
  if (!parts || !Number.isSafeInteger(authority) || authority >= 2 ** 48 || subs.length > MAX_SUB_AUTHORITIES || subs.some((s) => s > 0xffffffff)) {
    throw new RangeError(`not a SID: ${text}`);
  }
  const sid = Buffer.alloc(HEADER + 4 * subs.length);
  sid[0] = 1;
  sid[1] = subs.length;
  sid.writeUIntBE(authority, 2, 6);
  subs.forEach((s, i) => sid.writeUInt32LE(s, HEADER + 4 * i));
  return sid;
}

/**
 * The SID of the group with relative id `rid` in the user's domain: the user's SID with its last
 * sub-authority (the user's own RID) replaced. Undefined when the SID or the RID is malformed.
 */
export function primaryGroupSid(userSid: Uint8Array, rid: number): Buffer | undefined {
  if (!valid(userSid) || !Number.isInteger(rid) || rid < 0 || rid > 0xffffffff) return undefined;
  const sid = Buffer.from(userSid);
  sid.writeUInt32LE(rid, sid.length - 4);
  return sid;
}

/** The relative id of a SID: its last sub-authority. */
export function ridOf(sid: Uint8Array): number | undefined {
  return valid(sid) ? Buffer.from(sid).readUInt32LE(sid.length - 4) : undefined;
}

/**
 * An objectGUID in its usual string form (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as AD tools
 * show it): the first three fields are stored little-endian, the last two as they are.
 * Undefined when the value is not 16 bytes.
 */
export function guidToString(guid: Uint8Array): string | undefined {
  if (guid.length !== 16) return undefined;
  const b = Buffer.from(guid);
  const hex = (from: number, to: number, reverse: boolean): string => {
    const part = b.subarray(from, to);
    return Buffer.from(reverse ? [...part].reverse() : part).toString('hex');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

/** The 16 bytes of a GUID written in its string form; throws when it is not one. */
export function guidFromString(text: string): Buffer {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text);
  if (!m) throw new RangeError(`not a GUID: ${text}`);
  const le = (hex: string | undefined): number[] => [...Buffer.from(hex ?? '', 'hex')].reverse();
  return Buffer.from([...le(m[1]), ...le(m[2]), ...le(m[3]), ...Buffer.from(`${m[4] ?? ''}${m[5] ?? ''}`, 'hex')]);
}
