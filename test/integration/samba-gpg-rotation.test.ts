/*
 * The GPG key rotation of docs/sources/samba-ad.md, against a private Samba DC: with two keys named
 * in `password hash gpg key ids`, Samba encrypts each new password to both, so that the agent opens
 * copies made before and after the rotation, and either key alone opens a copy made meanwhile.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { loadSambaGpgKeys } from '../../src/agent/samba/gpg.ts';
import { decodeBase64 } from '../../src/agent/samba/ldif.ts';
import { startSamba, type SambaDc } from '../support/samba.ts';

let dc: SambaDc;
before(async () => {
  dc = await startSamba({ gpg: true });
});
after(() => dc.stop());

test('with the old and the new key named, each alone opens a copy Samba made', async () => {
  const home = dc.gnupgHome ?? '';
  const gpg = (args: readonly string[]): string => execFileSync('gpg', ['--batch', ...args], { env: { ...process.env, GNUPGHOME: home }, encoding: 'utf8' });
  const primary = (): string[] => [...gpg(['--with-colons', '--list-secret-keys']).matchAll(/^sec:.*\nfpr:(?:[^:]*:){8}([0-9A-F]{40}):/gm)].map((m) => m[1] ?? '');
  const [old] = primary();
  gpg(['--passphrase', '', '--quick-gen-key', 'rotated <rotated@pwsync.test>', 'future-default', 'default', 'never']);
  const fresh = primary().find((f) => f !== old);
  assert.ok(old !== undefined && fresh !== undefined, 'two keys');
  const conf = await readFile(dc.smbConf, 'utf8');
  await writeFile(dc.smbConf, conf.replace(/password hash gpg key ids = .*/, `password hash gpg key ids = ${fresh}, ${old}`));
  await dc.restart();
  await dc.createUser('rotation', 'Rotated-Pw-1ü');
  const out = await dc.samba(['user', 'getpassword', 'rotation', '--attributes=virtualSambaGPG']);
  const copy = decodeBase64(Buffer.from(/^virtualSambaGPG:: ((?:.*\n)(?: .*\n)*)/m.exec(out)?.[1]?.replace(/\n ?/g, '') ?? ''));

  const both = await loadSambaGpgKeys(dc.smbConf, home);
  assert.deepEqual([...both.fingerprints].sort(), [fresh, old].sort());
  for (const only of [fresh, old]) {
    await writeFile(dc.smbConf, conf.replace(/password hash gpg key ids = .*/, `password hash gpg key ids = ${only}`));
    const keys = await loadSambaGpgKeys(dc.smbConf, home);
    assert.equal(Buffer.from(await keys.decrypt(copy)).toString('utf16le'), 'Rotated-Pw-1ü', `key ${only} alone`);
  }
});
