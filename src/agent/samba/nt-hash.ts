import { clearBuffer } from '../../core/secret.ts';

/**
 * The NT hash (MD4 of the UTF-16LE password, MS-NLMP) that AD keeps in `unicodePwd`: Samba's own
 * check that the GPG-encrypted copy of a password is the account's current password, done here
 * because the agent decrypts the copy itself. Node's OpenSSL 3 has no MD4 (legacy provider), so it
 * is written out from RFC 1320; it hashes a password of at most a few KiB, never data at large.
 */
export function ntHash(utf16le: Uint8Array): Buffer {
  return md4(utf16le);
}

/** MD4, RFC 1320. */
export function md4(message: Uint8Array): Buffer {
  const bitLength = message.length * 8;
  // Both hold the password: in memory outside V8's heap, which moves small arrays (clearBuffer).
  const padded = new Uint8Array(new ArrayBuffer((((message.length + 8) >>> 6) + 1) << 6));
  padded.set(message);
  padded[message.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, bitLength >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(bitLength / 2 ** 32), true);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Uint32Array(new ArrayBuffer(64));
  const rotl = (v: number, s: number): number => (v << s) | (v >>> (32 - s));
  const f = (p: number, q: number, r: number): number => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number): number => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number): number => p ^ q ^ r;
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) x[i] = view.getUint32(block + i * 4, true);
    const [aa, bb, cc, dd] = [a, b, c, d];
    const word = (i: number): number => x[i] ?? 0;
    for (const i of [0, 4, 8, 12]) {
      a = rotl((a + f(b, c, d) + word(i)) | 0, 3);
      d = rotl((d + f(a, b, c) + word(i + 1)) | 0, 7);
      c = rotl((c + f(d, a, b) + word(i + 2)) | 0, 11);
      b = rotl((b + f(c, d, a) + word(i + 3)) | 0, 19);
    }
    for (const i of [0, 1, 2, 3]) {
      a = rotl((a + g(b, c, d) + word(i) + 0x5a827999) | 0, 3);
      d = rotl((d + g(a, b, c) + word(i + 4) + 0x5a827999) | 0, 5);
      c = rotl((c + g(d, a, b) + word(i + 8) + 0x5a827999) | 0, 9);
      b = rotl((b + g(c, d, a) + word(i + 12) + 0x5a827999) | 0, 13);
    }
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + word(i) + 0x6ed9eba1) | 0, 3);
      d = rotl((d + h(a, b, c) + word(i + 8) + 0x6ed9eba1) | 0, 9);
      c = rotl((c + h(d, a, b) + word(i + 4) + 0x6ed9eba1) | 0, 11);
      b = rotl((b + h(c, d, a) + word(i + 12) + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  x.fill(0);
  padded.fill(0);
  const out = Buffer.alloc(16);
  [a, b, c, d].forEach((v, i) => out.writeInt32LE(v, i * 4));
  return out;
}

/**
 * UTF-16LE (AD's cleartext) to UTF-8 bytes, without a JavaScript string in between; undefined when
 * it is not valid UTF-16 (an odd length, a lone surrogate).
 */
export function utf16leToUtf8(input: Uint8Array): Buffer | undefined {
  if (input.length % 2 !== 0) return undefined;
  const out = clearBuffer(input.length * 2);
  let o = 0;
  for (let i = 0; i < input.length; i += 2) {
    let cp = (input[i] ?? 0) | ((input[i + 1] ?? 0) << 8);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const low = i + 3 < input.length ? (input[i + 2] ?? 0) | ((input[i + 3] ?? 0) << 8) : -1;
      if (low < 0xdc00 || low > 0xdfff) {
        out.fill(0);
        return undefined;
      }
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
      i += 2;
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      out.fill(0);
      return undefined;
    }
    if (cp < 0x80) out[o++] = cp;
    else if (cp < 0x800) {
      out[o++] = 0xc0 | (cp >> 6);
      out[o++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      out[o++] = 0xe0 | (cp >> 12);
      out[o++] = 0x80 | ((cp >> 6) & 0x3f);
      out[o++] = 0x80 | (cp & 0x3f);
    } else {
      out[o++] = 0xf0 | (cp >> 18);
      out[o++] = 0x80 | ((cp >> 12) & 0x3f);
      out[o++] = 0x80 | ((cp >> 6) & 0x3f);
      out[o++] = 0x80 | (cp & 0x3f);
    }
  }
  const result = clearBuffer(o);
  out.copy(result, 0, 0, o);
  out.fill(0);
  return result;
}
