import { isUtf8 } from 'node:buffer';
import { InvalidInputError } from '../../core/errors.ts';
import { MAX_LDIF_BYTES } from '../capture/protocol.ts';

/**
 * One account as `samba-tool user syncpasswords` reports it to its `--script`: the account's
 * current state (not a diff), whenever one of the watched attributes changed. The password is
 * there as Samba keeps it: encrypted to its GPG key (`virtualSambaGPG`, the armored
 * `Primary:SambaGPG` package), with the NT hash (`unicodePwd`) to check the copy is current.
 */
export interface SambaAccountState {
  readonly dn: string;
  /** In its string form, lower case, as Samba writes it. */
  readonly objectGuid: string;
  readonly sAMAccountName: string | undefined;
  readonly userPrincipalName: string | undefined;
  /** FILETIME (100 ns since 1601); 0 when the user must change the password at next logon. */
  readonly pwdLastSet: bigint | undefined;
  /** Grows with every password set: tells a new password from a state reported again. */
  readonly keyVersion: number | undefined;
  readonly userAccountControl: number | undefined;
  readonly deleted: boolean;
  /**
   * The password's copy encrypted to Samba's GPG key, when Samba keeps one; and the account's NT
   * hash (16 bytes; as good as the password for NTLM). The caller wipes both.
   */
  readonly encryptedPassword: Buffer | undefined;
  readonly ntHash: Buffer | undefined;
}


/** Read into buffers of their own, never strings: the encrypted copy and the NT hash. */
const BYTE_ATTRIBUTES = new Set(['virtualsambagpg', 'unicodepwd']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** 1601-01-01 to 1970-01-01 in FILETIME ticks. */
const FILETIME_UNIX_EPOCH = 116_444_736_000_000_000n;

/**
 * Parses one entry of LDIF (RFC 2849: folded lines, `::` base64 values, comments) as syncpasswords
 * writes it. Works on bytes: the NT hash and the encrypted copy are decoded straight from the input
 * into buffers of their own, so neither becomes a JavaScript string. The caller wipes `ldif`.
 */
export function parseSyncPasswordsLdif(ldif: Buffer): SambaAccountState {
  if (ldif.length > MAX_LDIF_BYTES) throw new InvalidInputError(`the LDIF is ${ldif.length} bytes; at most ${MAX_LDIF_BYTES} are taken`);
  const values = new Map<string, string[]>();
  const bytes = new Map<string, Buffer>();
  const wipe = (): void => {
    for (const b of bytes.values()) b.fill(0);
  };
  try {
    for (const line of unfold(ldif)) {
      try {
        if (line.length === 0 || line[0] === 0x23 /* # */) continue;
        const colon = line.indexOf(0x3a /* : */);
        if (colon <= 0) throw new InvalidInputError(`an LDIF line has no attribute name: "${printable(line.subarray(0, 40))}"`);
        const name = line.subarray(0, colon).toString('latin1').toLowerCase().split(';')[0] ?? '';
        if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new InvalidInputError(`"${printable(line.subarray(0, colon))}" is not an LDIF attribute name`);
        const base64 = line[colon + 1] === 0x3a;
        if (line[colon + 1] === 0x3c /* < */) throw new InvalidInputError(`attribute ${name} is given by URL, which syncpasswords never does`);
        let start = colon + (base64 ? 2 : 1);
        while (line[start] === 0x20) start++;
        const raw = line.subarray(start);
        if (BYTE_ATTRIBUTES.has(name)) {
          if (bytes.has(name)) throw new InvalidInputError(`the LDIF holds more than one ${name} value`);
          bytes.set(name, base64 ? decodeBase64(raw) : Buffer.from(raw));
          continue;
        }
        const value = base64 ? decodeBase64(raw) : raw;
        // LDAP strings are UTF-8 (RFC 4517): never decoded leniently, which would turn a name into
        // another one with U+FFFD in it.
        if (!isUtf8(value)) throw new InvalidInputError(`the value of ${name} is not valid UTF-8`);
        const text = value.toString('utf8');
        const list = values.get(name) ?? [];
        list.push(text);
        values.set(name, list);
      } finally {
        line.fill(0);
      }
    }
    const one = (name: string): string | undefined => {
      const list = values.get(name);
      if (list !== undefined && list.length > 1) throw new InvalidInputError(`the LDIF holds ${list.length} values of ${name}; one was expected`);
      return list?.[0];
    };
    const dn = one('dn');
    if (dn === undefined) throw new InvalidInputError('the LDIF has no dn line');
    const objectGuid = one('objectguid')?.toLowerCase();
    if (objectGuid === undefined || !GUID.test(objectGuid)) throw new InvalidInputError(`the LDIF of ${dn} has no objectGUID in its string form (syncpasswords always sends it)`);
    const state: SambaAccountState = {
      dn,
      objectGuid,
      sAMAccountName: one('samaccountname'),
      userPrincipalName: one('userprincipalname'),
      pwdLastSet: integer(one('pwdlastset'), 'pwdLastSet', dn),
      keyVersion: optionalNumber(integer(one('msds-keyversionnumber'), 'msDS-KeyVersionNumber', dn)),
      userAccountControl: optionalNumber(integer(one('useraccountcontrol'), 'userAccountControl', dn)),
      deleted: one('isdeleted')?.toUpperCase() === 'TRUE' || one('isrecycled')?.toUpperCase() === 'TRUE',
      encryptedPassword: bytes.get('virtualsambagpg'),
      ntHash: bytes.get('unicodepwd'),
    };
    if (state.ntHash !== undefined && state.ntHash.length !== 16) throw new InvalidInputError(`unicodePwd of ${dn} is ${state.ntHash.length} bytes, not an NT hash's 16`);
    return state;
  } catch (e) {
    wipe();
    throw e;
  }
}

/** Epoch milliseconds of a FILETIME; undefined for 0 (must change at next logon) and for "never". */
export function filetimeToEpochMs(filetime: bigint): number | undefined {
  if (filetime <= FILETIME_UNIX_EPOCH || filetime >= 0x7fffffffffffffffn) return undefined;
  return Number((filetime - FILETIME_UNIX_EPOCH) / 10_000n);
}

/** The entry's logical lines: folded lines (a continuation starts with one space) joined, each a copy. */
function* unfold(ldif: Buffer): Generator<Buffer> {
  let pieces: Buffer[] = [];
  const flush = (): Buffer | undefined => {
    if (pieces.length === 0) return undefined;
    const line = Buffer.concat(pieces);
    for (const piece of pieces) piece.fill(0);
    pieces = [];
    return line;
  };
  let offset = 0;
  while (offset < ldif.length) {
    let end = ldif.indexOf(0x0a, offset);
    if (end === -1) end = ldif.length;
    const stop = end > offset && ldif[end - 1] === 0x0d ? end - 1 : end;
    const physical = ldif.subarray(offset, stop);
    offset = end + 1;
    if (physical[0] === 0x20) {
      if (pieces.length === 0) throw new InvalidInputError('the LDIF starts with a continuation line');
      pieces.push(Buffer.from(physical.subarray(1)));
      continue;
    }
    const line = flush();
    if (line !== undefined) yield line;
    if (physical.length === 0) {
      // An empty line ends the entry; syncpasswords sends one entry.
      if (ldif.subarray(offset).some((b) => b !== 0x0a && b !== 0x0d && b !== 0x20)) {
        throw new InvalidInputError('the LDIF holds more than one entry; syncpasswords sends one account at a time');
      }
      return;
    }
    pieces.push(Buffer.from(physical));
  }
  const line = flush();
  if (line !== undefined) yield line;
}

const BASE64_VALUES = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/** Standard base64 (with or without padding) from bytes to bytes, without a string in between. */
export function decodeBase64(input: Uint8Array): Buffer {
  let length = input.length;
  while (length > 0 && input[length - 1] === 0x3d /* = */) length--;
  if (input.length - length > 2 || length % 4 === 1) throw new InvalidInputError('an LDIF value is not valid base64');
  const out = Buffer.alloc(Math.floor((length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < length; i++) {
    const v = BASE64_VALUES[input[i] ?? 0] ?? -1;
    if (v < 0) {
      out.fill(0);
      throw new InvalidInputError('an LDIF value is not valid base64');
    }
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  acc = 0;
  return out;
}

function integer(text: string | undefined, name: string, dn: string): bigint | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d{1,20}$/.test(text)) throw new InvalidInputError(`${name} of ${dn} is not an integer: "${text.slice(0, 40)}"`);
  return BigInt(text);
}

function optionalNumber(value: bigint | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function printable(bytes: Buffer): string {
  return bytes.toString('latin1').replace(/[^\x20-\x7e]/g, '?');
}
