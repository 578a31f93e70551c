import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { ConfigError } from '../../core/errors.ts';
import { loadSambaGpgKeys } from './gpg.ts';

/** A GnuPG home with a key made as the Samba guide makes it, and smb.conf files naming keys. */
describe("Samba's GPG keys, exported from a GnuPG home by the fingerprints smb.conf names", () => {
  let dir = '';
  let home = '';
  const gpg = (args: readonly string[]): string => execFileSync('gpg', ['--batch', ...args], { env: { ...process.env, GNUPGHOME: home }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const fingerprint = (uid: string): string => /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-keys', uid]))?.[1] ?? '';
  const smbConf = async (name: string, ids: string | undefined): Promise<string> => {
    const file = join(dir, name);
    await writeFile(file, `[global]\n\tworkgroup = PWSYNC\n${ids === undefined ? '' : `\tpassword hash gpg key ids = ${ids}\n`}`);
    return file;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-samba-gpg-'));
    home = join(dir, 'gnupg');
    execFileSync('mkdir', ['-m', '700', home]);
    gpg(['--passphrase', '', '--quick-gen-key', 'capture <capture@pwsync.test>', 'future-default', 'default', 'never']);
    gpg(['--passphrase', 'a-passphrase', '--pinentry-mode', 'loopback', '--quick-gen-key', 'protected <protected@pwsync.test>', 'future-default', 'default', 'never']);
  });
  after(async () => {
    execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home } });
    await rm(dir, { recursive: true, force: true });
  });

  test('the key opens a copy encrypted to it, as Samba makes them (UTF-16LE, armored)', async () => {
    const fpr = fingerprint('capture@pwsync.test');
    const keys = await loadSambaGpgKeys(await smbConf('ok.conf', fpr), home);
    assert.deepEqual(keys.fingerprints, [fpr]);
    const publicKey = (await openpgp.readKey({ armoredKey: gpg(['--armor', '--export', fpr]) })).toPublic();
    const copy: unknown = await openpgp.encrypt({ message: await openpgp.createMessage({ binary: Buffer.from('Grüße-Pw-1', 'utf16le') }), encryptionKeys: publicKey });
    assert.equal(typeof copy, 'string');
    const clear = await keys.decrypt(Buffer.from(String(copy)));
    assert.equal(Buffer.from(clear).toString('utf16le'), 'Grüße-Pw-1');
    await assert.rejects(keys.decrypt(Buffer.from('not a message')), /not an OpenPGP message/);
  });

  test('no key named, a key not in the home, a key with a passphrase: refused at start, saying which', async () => {
    await assert.rejects(loadSambaGpgKeys(await smbConf('none.conf', undefined), home), (e: unknown) => e instanceof ConfigError && /has no "password hash gpg key ids"/.test(e.message));
    await assert.rejects(loadSambaGpgKeys(await smbConf('missing.conf', '0123456789ABCDEF0123456789ABCDEF01234567'), home), (e: unknown) => e instanceof ConfigError && /0123456789ABCDEF0123456789ABCDEF01234567/.test(e.message));
    const protectedKey = fingerprint('protected@pwsync.test');
    await assert.rejects(loadSambaGpgKeys(await smbConf('protected.conf', protectedKey), home), (e: unknown) => e instanceof ConfigError && /has a passphrase/.test(e.message));
  });
});
