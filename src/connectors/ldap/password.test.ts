import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { BerReader } from 'ldapts';
import { InvalidInputError, PolicyError } from '../../core/errors.ts';
import { PASSWORD_MODIFY_OID, passwordModifyRequest, unicodePwd } from './password.ts';

/** The fields of a PasswdModifyRequestValue, read back with ldapts' BER reader. */
interface Decoded {
  readonly userDn?: string;
  readonly oldPassword?: Buffer;
  readonly newPassword?: Buffer;
  /** The tags in the order they came. */
  readonly tags: number[];
}

function decode(request: Buffer): Decoded {
  const reader = new BerReader(request);
  assert.equal(reader.readSequence(0x30), 0x30);
  assert.equal(reader.offset + reader.length, request.length, 'the SEQUENCE spans the whole buffer');
  const tags: number[] = [];
  const out: { userDn?: string; oldPassword?: Buffer; newPassword?: Buffer } = {};
  while (reader.remain > 0) {
    const tag = reader.peek();
    assert.ok(tag !== null);
    tags.push(tag);
    const value = reader.readString(tag, true);
    assert.ok(value !== null);
    if (tag === 0x80) out.userDn = value.toString('utf8');
    else if (tag === 0x81) out.oldPassword = value;
    else if (tag === 0x82) out.newPassword = value;
    else assert.fail(`unexpected tag 0x${tag.toString(16)}`);
  }
  return { ...out, tags };
}

void describe('passwordModifyRequest (RFC 3062)', () => {
  void test('the OID', () => {
    assert.equal(PASSWORD_MODIFY_OID, '1.3.6.1.4.1.4203.1.11.1');
  });

  void test('all three fields: a SEQUENCE of [0] [1] [2] primitive context tags, in order', () => {
    const request = passwordModifyRequest({ userDn: 'uid=jdoe,ou=people,dc=example,dc=org', oldPassword: Buffer.from('old-secret'), newPassword: Buffer.from('new-secret') });
    const decoded = decode(request);
    assert.deepEqual(decoded.tags, [0x80, 0x81, 0x82]);
    assert.equal(decoded.userDn, 'uid=jdoe,ou=people,dc=example,dc=org');
    assert.deepEqual(decoded.oldPassword, Buffer.from('old-secret'));
    assert.deepEqual(decoded.newPassword, Buffer.from('new-secret'));
  });

  void test('exact bytes of a small request', () => {
    const request = passwordModifyRequest({ userDn: 'cn=a', oldPassword: Buffer.from('o'), newPassword: Buffer.from('nn') });
    assert.equal(request.toString('hex'), `300d8004${Buffer.from('cn=a').toString('hex')}81016f82026e6e`);
  });

  void test('optional fields omitted: only [2] newPasswd; [0] with [2]; [1] with [2]', () => {
    const only = passwordModifyRequest({ newPassword: Buffer.from('pw') });
    assert.equal(only.toString('hex'), '300482027077');
    assert.deepEqual(decode(only).tags, [0x82]);

    const withDn = decode(passwordModifyRequest({ userDn: 'uid=x,dc=y', newPassword: Buffer.from('pw') }));
    assert.deepEqual(withDn.tags, [0x80, 0x82]);
    assert.equal(withDn.oldPassword, undefined);

    const withOld = decode(passwordModifyRequest({ oldPassword: Buffer.from('old'), newPassword: Buffer.from('pw') }));
    assert.deepEqual(withOld.tags, [0x81, 0x82]);
    assert.equal(withOld.userDn, undefined);
  });

  void test('an empty new password is still sent as an empty [2]', () => {
    assert.equal(passwordModifyRequest({ newPassword: Buffer.alloc(0) }).toString('hex'), '30028200');
  });

  void test('lengths: short form below 128, long form 0x81 up to 255, 0x82 beyond', () => {
    const at127 = passwordModifyRequest({ newPassword: Buffer.alloc(127, 0x61) });
    assert.deepEqual([...at127.subarray(0, 4)], [0x30, 0x81, 129, 0x82]);
    assert.equal(at127[4], 127);

    const at128 = passwordModifyRequest({ newPassword: Buffer.alloc(128, 0x61) });
    assert.deepEqual([...at128.subarray(0, 6)], [0x30, 0x81, 131, 0x82, 0x81, 128]);

    // 200 bytes: [2] 81 C8, and the SEQUENCE 203 bytes: 30 81 CB.
    const p200 = Buffer.alloc(200, 0x62);
    const r200 = passwordModifyRequest({ newPassword: p200 });
    assert.deepEqual([...r200.subarray(0, 6)], [0x30, 0x81, 0xcb, 0x82, 0x81, 0xc8]);
    assert.equal(r200.length, 206);
    assert.deepEqual(decode(r200).newPassword, p200);

    // 300 bytes: [2] 82 01 2C, and the SEQUENCE 304 bytes: 30 82 01 30.
    const p300 = Buffer.alloc(300, 0x63);
    const r300 = passwordModifyRequest({ newPassword: p300 });
    assert.deepEqual([...r300.subarray(0, 8)], [0x30, 0x82, 0x01, 0x30, 0x82, 0x82, 0x01, 0x2c]);
    assert.equal(r300.length, 308);
    assert.deepEqual(decode(r300).newPassword, p300);

    // All three fields with a 200-byte old and 300-byte new password and a DN.
    const dn = `uid=${'x'.repeat(100)},dc=example,dc=org`;
    const all = decode(passwordModifyRequest({ userDn: dn, oldPassword: p200, newPassword: p300 }));
    assert.deepEqual(all.tags, [0x80, 0x81, 0x82]);
    assert.equal(all.userDn, dn);
    assert.deepEqual(all.oldPassword, p200);
    assert.deepEqual(all.newPassword, p300);
  });

  void test('binary and non-ASCII passwords travel as their bytes; a non-ASCII DN as UTF-8', () => {
    const binary = Buffer.from([0x00, 0xff, 0x80, 0x30, 0x82]);
    const dn = 'cn=Lučić,dc=example,dc=org';
    const decoded = decode(passwordModifyRequest({ userDn: dn, newPassword: binary }));
    assert.deepEqual(decoded.newPassword, binary);
    assert.equal(decoded.userDn, dn);
  });

  void test('the inputs are not modified, and the request does not share their memory', () => {
    const old = Buffer.from('old-secret');
    const fresh = Buffer.from('new-secret');
    const request = passwordModifyRequest({ oldPassword: old, newPassword: fresh });
    assert.equal(old.toString(), 'old-secret');
    assert.equal(fresh.toString(), 'new-secret');
    request.fill(0);
    assert.equal(fresh.toString(), 'new-secret');
  });

  void test('a request beyond 64 KiB is refused with InvalidInputError', () => {
    assert.throws(() => passwordModifyRequest({ newPassword: Buffer.alloc(70_000) }), InvalidInputError);
    // Each field fits, the whole does not.
    assert.throws(() => passwordModifyRequest({ oldPassword: Buffer.alloc(40_000), newPassword: Buffer.alloc(40_000) }), InvalidInputError);
    // Just below the limit is fine: 65535 - 4 bytes of [2] header.
    const big = passwordModifyRequest({ newPassword: Buffer.alloc(0xffff - 4, 0x61) });
    assert.deepEqual([...big.subarray(0, 4)], [0x30, 0x82, 0xff, 0xff]);
  });

  /*
   * OpenLDAP's ldappasswd against a fake server that answers the bind and captures the extended
   * request: its requestValue must be byte for byte what pwsync builds for the same fields.
   */
  void test("matches the request OpenLDAP's ldappasswd sends", async () => {
    const cases: { args: string[]; fields: Parameters<typeof passwordModifyRequest>[0] }[] = [
      { args: ['-a', 'old-pw', '-s', 'new-pw', 'uid=jdoe,ou=people,dc=example,dc=org'], fields: { userDn: 'uid=jdoe,ou=people,dc=example,dc=org', oldPassword: Buffer.from('old-pw'), newPassword: Buffer.from('new-pw') } },
      { args: ['-s', 'only-new'], fields: { newPassword: Buffer.from('only-new') } },
      { args: ['-s', 'x'.repeat(300), 'cn=someone,dc=x'], fields: { userDn: 'cn=someone,dc=x', newPassword: Buffer.from('x'.repeat(300)) } },
      { args: ['-a', 'y'.repeat(200), '-s', 'Pässwörd🔑'], fields: { oldPassword: Buffer.from('y'.repeat(200)), newPassword: Buffer.from('Pässwörd🔑') } },
    ];
    for (const { args, fields } of cases) {
      const captured = await captureLdappasswd(args);
      assert.deepEqual(captured.oid, PASSWORD_MODIFY_OID);
      assert.equal(captured.value.toString('hex'), passwordModifyRequest(fields).toString('hex'), args.join(' '));
    }
  });
});

/** Reads whole LDAPMessages off a stream of bytes. */
function messages(buffer: Buffer): { complete: Buffer[]; rest: Buffer } {
  const complete: Buffer[] = [];
  let offset = 0;
  while (buffer.length - offset >= 2) {
    const first = buffer[offset + 1] ?? 0;
    let length = first;
    let header = 2;
    if (first & 0x80) {
      const n = first & 0x7f;
      if (buffer.length - offset < 2 + n) break;
      length = buffer.readUIntBE(offset + 2, n);
      header = 2 + n;
    }
    if (buffer.length - offset < header + length) break;
    complete.push(buffer.subarray(offset, offset + header + length));
    offset += header + length;
  }
  return { complete, rest: buffer.subarray(offset) };
}

/** LDAPResult success for message `id` with protocol op `op` (0x61 bind, 0x78 extended). */
function success(id: number, op: number): Buffer {
  return Buffer.from([0x30, 0x0c, 0x02, 0x01, id, op, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]);
}

async function captureLdappasswd(args: readonly string[]): Promise<{ oid: string; value: Buffer }> {
  let resolveCapture: (v: { oid: string; value: Buffer }) => void = () => undefined;
  const capture = new Promise<{ oid: string; value: Buffer }>((resolve) => (resolveCapture = resolve));
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const { complete, rest } = messages(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const message of complete) {
        const reader = new BerReader(message);
        reader.readSequence(0x30);
        const id = reader.readInt() ?? 0;
        const op = reader.peek();
        if (op === 0x60) socket.write(success(id, 0x61));
        else if (op === 0x77) {
          reader.readSequence(0x77);
          const oid = reader.readString(0x80) ?? '';
          const value = reader.peek() === 0x81 ? (reader.readString(0x81, true) ?? Buffer.alloc(0)) : Buffer.alloc(0);
          resolveCapture({ oid, value });
          socket.write(success(id, 0x78));
        } else if (op === 0x42) socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const run = new Promise<void>((resolve, reject) => {
      execFile(
        'ldappasswd',
        ['-x', '-H', `ldap://127.0.0.1:${port}`, '-D', 'cn=admin,dc=x', '-w', 'admin-pw', ...args],
        { env: { ...process.env, LDAPNOINIT: '1' }, timeout: 10_000 },
        (error, _stdout, stderr) => (error ? reject(new Error(`ldappasswd failed: ${stderr}`, { cause: error })) : resolve()),
      );
    });
    const [captured] = await Promise.all([capture, run]);
    return captured;
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

void describe('unicodePwd (Active Directory)', () => {
  void test('"abc" → the UTF-16LE of "abc" with its quotes', () => {
    const out = unicodePwd(Buffer.from('abc'));
    assert.equal(out.toString('hex'), '22006100620063002200');
    assert.deepEqual(out, Buffer.from('"abc"', 'utf16le'));
  });

  void test('characters beyond ASCII: each one code unit, not the code units of a Latin-1 reading', () => {
    const out = unicodePwd(Buffer.from('Pässwörd', 'utf8'));
    assert.deepEqual(out, Buffer.from('"Pässwörd"', 'utf16le'));
    assert.equal(out.length, 2 * 10);
    // ä is U+00E4 → E4 00.
    assert.deepEqual([...out.subarray(4, 6)], [0xe4, 0x00]);
  });

  void test('a character beyond the BMP becomes a surrogate pair', () => {
    const out = unicodePwd(Buffer.from('🔑', 'utf8'));
    // U+1F511 → D83D DD11, little-endian.
    assert.equal(out.toString('hex'), '22003dd811dd2200');
    assert.equal(out.toString('utf16le'), '"🔑"');
  });

  void test('the empty password is two quotes; the input is not modified', () => {
    assert.deepEqual(unicodePwd(Buffer.alloc(0)), Buffer.from('""', 'utf16le'));
    const clear = Buffer.from('Pässwörd');
    const copy = Buffer.from(clear);
    unicodePwd(clear);
    assert.deepEqual(clear, copy);
  });

  void test('quotes and NUL inside the password are kept as they are', () => {
    assert.deepEqual(unicodePwd(Buffer.from('a"b\0c')), Buffer.from('"a"b\0c"', 'utf16le'));
  });

  void test('bytes that are not UTF-8 are refused as the target\'s policy (6927): they have no UTF-16 form', () => {
    const bad = [
      [0xff],
      [0x61, 0x80],
      [0xc3, 0x28],
      [0xc0, 0xaf], // overlong "/"
      [0xe2, 0x82], // truncated
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate written as UTF-8 (CESU-8)
      [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
      [0x50, 0xe4, 0x73, 0x73], // "Päss" in Latin-1
    ];
    for (const bytes of bad) assert.throws(() => unicodePwd(Buffer.from(bytes)), PolicyError, Buffer.from(bytes).toString('hex'));
  });
});
