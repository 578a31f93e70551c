import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../core/errors.ts';
import { decodeBase64, filetimeToEpochMs, parseSyncPasswordsLdif } from './ldif.ts';

// As syncpasswords wrote it on a private Samba 4.17 (the long value is folded at 78 columns).
const ALICE = `dn: CN=alice,CN=Users,DC=pwsync,DC=test
objectGUID: 4a638b4f-467d-41f1-bbe6-2c1be71d853b
sAMAccountName: alice
userPrincipalName: alice@pwsync.test
pwdLastSet: 134411228203027180
userAccountControl: 514
msDS-KeyVersionNumber: 3
unicodePwd:: iEb36u6PsRetBr3YMLdYbA==
virtualSambaGPG:: LS0tLS1CRUdJTiBQR1AgTUVTU0FHRS0tLS0tCgpoRjREdjhvZU9NRk5CSFFTQVFkQWdORWNr
 MkRvY3h6NlFxdVhNRVBqTFByTy8wS0ZlbnQ3N1I3Z2ZiV1RRVzB3CkYrYzIzZXk3VVlFMTVtMlZmVHdM

`;

test('an account with its encrypted copy: every field; the copy and the NT hash as bytes', () => {
  const state = parseSyncPasswordsLdif(Buffer.from(ALICE));
  assert.equal(state.dn, 'CN=alice,CN=Users,DC=pwsync,DC=test');
  assert.equal(state.objectGuid, '4a638b4f-467d-41f1-bbe6-2c1be71d853b');
  assert.equal(state.sAMAccountName, 'alice');
  assert.equal(state.userPrincipalName, 'alice@pwsync.test');
  assert.equal(state.pwdLastSet, 134411228203027180n);
  assert.equal(state.keyVersion, 3);
  assert.equal(state.userAccountControl, 514);
  assert.equal(state.deleted, false);
  assert.equal(state.ntHash?.toString('hex'), '8846f7eaee8fb117ad06bdd830b7586c');
  assert.match(state.encryptedPassword?.toString('latin1') ?? '', /^-----BEGIN PGP MESSAGE-----\n\nhF4Dv8oeOMFNBHQSAQdAgNEck2Docxz6QquXMEPjLPrO\/0KFent77R7gfbWTQW0w\nF\+c23ey7UYE15m2VfTwL$/);
});

test('folded lines are joined, CRLF is taken, comments are skipped', () => {
  const long = 'Ä'.repeat(40) + '-long-1';
  const b64 = Buffer.from(long).toString('base64');
  const folded = `virtualSambaGPG:: ${b64.slice(0, 50)}\r\n ${b64.slice(50, 90)}\r\n ${b64.slice(90)}\r\n`;
  const ldif = `# a comment\r\ndn: CN=bob,CN=Users,DC=x\r\nobjectGUID: 87A6C7B8-9404-4AD9-B680-B7F08D63F285\r\nsAMAccountName:: ${Buffer.from('bøb').toString('base64')}\r\n${folded}`;
  const state = parseSyncPasswordsLdif(Buffer.from(ldif));
  assert.equal(state.encryptedPassword?.toString('utf8'), long);
  assert.equal(state.sAMAccountName, 'bøb');
  assert.equal(state.objectGuid, '87a6c7b8-9404-4ad9-b680-b7f08d63f285');
});

test('an account without an encrypted copy (set before capture was on, or a guest) has none', () => {
  const state = parseSyncPasswordsLdif(Buffer.from('dn: CN=Guest,CN=Users,DC=x\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\nuserAccountControl: 66082\npwdLastSet: 0\nsAMAccountName: Guest\nmsDS-KeyVersionNumber: 1\n'));
  assert.equal(state.encryptedPassword, undefined);
  assert.equal(state.ntHash, undefined);
  assert.equal(state.pwdLastSet, 0n);
});

test('a deleted account is marked so', () => {
  const state = parseSyncPasswordsLdif(Buffer.from('dn: CN=gone\\0ADEL:x,CN=Deleted Objects,DC=x\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\nisDeleted: TRUE\n'));
  assert.equal(state.deleted, true);
});

test('what syncpasswords never sends is refused with a reason, and the input is wiped', () => {
  const cases: [string, RegExp][] = [
    ['objectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\n', /no dn line/],
    ['dn: CN=a\n', /no objectGUID/],
    ['dn: CN=a\nobjectGUID: not-a-guid\n', /no objectGUID/],
    ['dn: CN=a\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\npwdLastSet: soon\n', /pwdLastSet of CN=a is not an integer/],
    ['dn: CN=a\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\nvirtualSambaGPG:: QQ==\nvirtualSambaGPG:: Qg==\n', /more than one virtualsambagpg/],
    ['dn: CN=a\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\nvirtualSambaGPG:: ab$d\n', /not valid base64/],
    ['dn: CN=a\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\nunicodePwd:: QQ==\n', /not an NT hash's 16/],
    ['dn: CN=a\n\ndn: CN=b\n', /more than one entry/],
    [' dn: CN=a\n', /starts with a continuation/],
    ['dn: CN=a\nobjectGUID:< file:///etc/shadow\n', /by URL/],
    // A name is never read with U+FFFD in place of a byte that is not UTF-8 (another account).
    ['dn: CN=a\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\nsAMAccountName:: Y2Fm6Q==\n', /sAMAccountName is not valid UTF-8/i],
    ['dn: CN=caf\xe9\nobjectGUID: 658197d3-0f72-46dd-aa8c-74620c4bd790\n', /dn is not valid UTF-8/],
  ];
  for (const [ldif, message] of cases) {
    assert.throws(() => parseSyncPasswordsLdif(Buffer.from(ldif, 'latin1')), (e: unknown) => e instanceof InvalidInputError && message.test(e.message), ldif);
  }
  assert.throws(() => parseSyncPasswordsLdif(Buffer.alloc(70_000, 0x41)), /at most 65536/);
});

test('base64 decodes bytes to bytes, padded or not', () => {
  for (const text of ['', 'a', 'ab', 'abc', 'abcd', 'Zwei-Pw-2ü', '\u{1F600}x']) {
    const b64 = Buffer.from(text).toString('base64');
    assert.equal(decodeBase64(Buffer.from(b64)).toString('utf8'), text);
    assert.equal(decodeBase64(Buffer.from(b64.replace(/=+$/, ''))).toString('utf8'), text);
  }
  assert.throws(() => decodeBase64(Buffer.from('a===')), /not valid base64/);
  assert.throws(() => decodeBase64(Buffer.from('abcde')), /not valid base64/);
});

test('pwdLastSet becomes epoch milliseconds; 0 and "never" have no time', () => {
  assert.equal(filetimeToEpochMs(134411228203027180n), Date.UTC(2026, 11, 7, 13, 13, 40, 302));
  assert.equal(filetimeToEpochMs(0n), undefined);
  assert.equal(filetimeToEpochMs(0x7fffffffffffffffn), undefined);
});
