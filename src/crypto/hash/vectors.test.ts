import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Secret } from '../../core/secret.ts';
import { detectFormat, verifySecret } from './index.ts';

/*
 * Hashes made once by independent implementations and pinned here, so a unit run (without the
 * Debian tools the interop test needs) still checks each encoding against its real producer.
 * Each row: the producer, the password, the hash.
 */
const NON_ASCII = 'Pässwörd-密码-🔑';
const VECTORS: [string, string, string][] = [
  ['argon2 reference (argon2 CLI), PHC test vector', 'password', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc'],
  ['argon2 CLI', NON_ASCII, '$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$8Yc+NQ1KSeragptdaxLnJ1GpETERRasLvEw3ANpDYj4'],
  ['htpasswd -B (apr-util)', NON_ASCII, '$2y$04$/nx2/t2ju0s94CEi4gVyyOoMaYwYaJPIiyODNXFaLN9Fm3sAAfo0C'],
  ['passlib documentation', 'password', '$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E'],
  ['python3 hashlib.scrypt', NON_ASCII, '$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$kQtAb03T5Grc/HfaTNv+5tHpzPLTs2XxYqmpAG/3U4c'],
  ['passlib documentation', 'password', '$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
  [
    'python3 hashlib.pbkdf2_hmac',
    NON_ASCII,
    '$pbkdf2-sha512$1000$AAECAwQFBgcICQoLDA0ODw$Q6fhXCzdGtZKFfpHIwn3DV.ehiRd.ocFEm8HJyFAfV4dR72jziD5gTvzQQjKYJj2ZOTnl4OyepaJOPUeqmOWwA',
  ],
  [
    'python3 hashlib.pbkdf2_hmac',
    NON_ASCII,
    '{PBKDF2-SHA512}1000$AAECAwQFBgcICQoLDA0ODw$Q6fhXCzdGtZKFfpHIwn3DV.ehiRd.ocFEm8HJyFAfV4dR72jziD5gTvzQQjKYJj2ZOTnl4OyepaJOPUeqmOWwA',
  ],
  [
    'slappasswd -h {PBKDF2-SHA512} (pw-pbkdf2, Debian slapd-contrib)',
    NON_ASCII,
    '{PBKDF2-SHA512}10000$Se7tUtd7fJQ.CMPk3MGrig$WiPbUZ6kE1SBLiKwn9W5BpS1CLr0hcTMvXywVvET5/L.FqBiHMtz25p2ivviobG9m/RnDFLYgv.TQk6TpTi35Q',
  ],
  ['slappasswd -h {SSHA}', 'secret', '{SSHA}tEPDR71XDXflaIkCUGc5o1mKCy+5OXNO'],
  ['slappasswd -h {SSHA512} (pw-sha2)', NON_ASCII, '{SSHA512}F32duc963mE/k2UuoVMXaYgh4B9kFqStMVvzFqlz22u1zr2LVSIUyOV7T8vjsNsyNXrHeNUYtEi48cGIYnKaWZnLk3LMUzYE'],
  ['slappasswd -c $6$%.16s', NON_ASCII, '{CRYPT}$6$FVXbNjM.uv20QepR$/g/apwbdI/gdz4OjBwDNhno2FS9OyO2ZfeNEFXc0Fg9YV48cyLvYEkIIQtIud2XnwwCd7tjWs97HGCAE5CPPH/'],
  ['slappasswd -c $6$rounds=2000$%.16s', NON_ASCII, '{CRYPT}$6$rounds=2000$jx3qk5g9a1d1efJV$p6.NS9l86ymv9O3ACL0cXIwLRbiN0jFDxWmHwj7txgLAW8ENACqq3UOd0gBxmCxgT4UwghC6y39PbG8lXyrBD1'],
  ['slappasswd -h {ARGON2} (Debian 12 writes argon2i)', NON_ASCII, '{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$22NfnjF4obQh0wvqifSDdw$miTh9FF2VFsis98VIYWn1c1OGLMs2KD6xS9eZrVPi8A'],
  ['argon2 CLI, argon2d version 16 inside {ARGON2}', 'password', '{ARGON2}$argon2d$v=16$m=256,t=2,p=2$c29tZXNhbHQ$apHQK5+IVLoIQfBKpuU8HTN0wKDGRrjkMbA96AW5HsM'],
];

for (const [producer, password, encoded] of VECTORS) {
  void test(`${String(detectFormat(encoded))} from ${producer} verifies`, async () => {
    using right = Secret.fromString(password);
    using wrong = Secret.fromString(`${password}!`);
    assert.equal(await verifySecret(encoded, right), true);
    assert.equal(await verifySecret(encoded, wrong), false);
  });
}

void test('LDAP scheme names verify in any case, as slapd compares them', async () => {
  using secret = Secret.fromString('secret');
  assert.equal(await verifySecret('{ssha}tEPDR71XDXflaIkCUGc5o1mKCy+5OXNO', secret), true);
  assert.equal(await verifySecret('{SsHa}tEPDR71XDXflaIkCUGc5o1mKCy+5OXNO', secret), true);
});
