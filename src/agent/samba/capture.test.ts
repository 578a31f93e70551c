import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { createLogger } from '../../log/logger.ts';
import { CaptureAcceptor } from '../capture/accept.ts';
import type { AgentConfig } from '../config.ts';
import { QueueWriter, type AgentStore } from '../queue/index.ts';
import { withStore } from '../queue/test-support.ts';
import * as openpgp from 'openpgp';
import { SambaCapture } from './capture.ts';
import { SambaGpgKeys } from './gpg.ts';
import { ntHash } from './nt-hash.ts';
import { EVENT } from '../../core/events.ts';

const log = createLogger({ level: 'silent' });
const config = { sources: ['corp'] } as Pick<AgentConfig, 'sources'> as AgentConfig;
const GUID = '4a638b4f-467d-41f1-bbe6-2c1be71d853b';
const NOW = Date.UTC(2026, 11, 7, 14, 0, 0);
/** FILETIME of an epoch-ms time. */
const filetime = (ms: number): bigint => BigInt(ms) * 10_000n + 116_444_736_000_000_000n;

/** A key like the one Samba encrypts its password copies to (gpg's future-default: ed25519 + cv25519). */
const key = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'pwsync test Samba' }], format: 'object' });
const keys = new SambaGpgKeys([key.privateKey]);
const otherKey = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'another' }], format: 'object' });

/** Samba's Primary:SambaGPG: the UTF-16LE password, encrypted and armored. */
async function sambaCopy(password: string, to: openpgp.PublicKey = key.publicKey): Promise<string> {
  const message = await openpgp.createMessage({ binary: Buffer.from(password, 'utf16le') });
  const armored: unknown = await openpgp.encrypt({ message, encryptionKeys: to });
  if (typeof armored !== 'string') throw new Error('openpgp.encrypt gave no armored text');
  return armored;
}

interface Fields { account?: string; kvno?: number; pwdLastSet?: bigint; password?: string; copyOf?: string; copyTo?: openpgp.PublicKey; deleted?: boolean; guid?: string }

/** syncpasswords' LDIF; `copyOf` makes the encrypted copy hold another password than `password`'s NT hash says. */
async function ldif(fields: Fields): Promise<Buffer> {
  const lines = [`dn: CN=${fields.account ?? 'x'},CN=Users,DC=pwsync,DC=test`, `objectGUID: ${fields.guid ?? GUID}`];
  if (fields.account !== undefined) lines.push(`sAMAccountName: ${fields.account}`);
  if (fields.pwdLastSet !== undefined) lines.push(`pwdLastSet: ${fields.pwdLastSet}`);
  if (fields.kvno !== undefined) lines.push(`msDS-KeyVersionNumber: ${fields.kvno}`);
  if (fields.deleted === true) lines.push('isDeleted: TRUE');
  if (fields.password !== undefined) {
    lines.push(`unicodePwd:: ${ntHash(Buffer.from(fields.password, 'utf16le')).toString('base64')}`);
    lines.push(`virtualSambaGPG:: ${Buffer.from(await sambaCopy(fields.copyOf ?? fields.password, fields.copyTo)).toString('base64')}`);
  }
  return Buffer.from(`${lines.join('\n')}\n\n`);
}

async function withSamba(fn: (ctx: { samba: SambaCapture; store: AgentStore }) => Promise<void>, existingPasswords: 'skip' | 'forward' = 'skip'): Promise<void> {
  await withStore(async (store) => {
    const writer = new QueueWriter(store, { thread: false });
    const acceptor = new CaptureAcceptor({ config, store, writer, scope: undefined, log, now: () => NOW, queued: () => undefined });
    try {
      await fn({ samba: new SambaCapture({ source: 'corp', existingPasswords, acceptor, keys, store, log, now: () => NOW }), store });
    } finally {
      await writer.close();
    }
  });
}

/** The marks are written after the answer; wait for them before the next report. */
const settled = (): Promise<void> => sleep(20);

describe('SambaCapture: what is forwarded of what syncpasswords reports', () => {
  test('a new password is queued by sAMAccountName and objectGUID, at the directory\'s pwdLastSet', () =>
    withSamba(async ({ samba, store }) => {
      const answer = await samba.accept(await ldif({ account: 'alice', kvno: 2, pwdLastSet: filetime(NOW - 5000), password: 'Nÿ-Pw-1' }), undefined);
      assert.equal(answer.ok && answer.status, 'queued');
      const [item] = await store.peek(10);
      assert.deepEqual([item?.account, item?.anchor, item?.changedAt, item?.source], ['alice', GUID, NOW - 5000, 'corp']);
      if (item === undefined) return;
      const secret = await store.openSecret(item);
      assert.equal(secret.useSync((b) => b.toString('utf8')), 'Nÿ-Pw-1');
      secret.dispose();
    }));

  test('the same key version reported again (a rename, a disable) is skipped; a higher one is forwarded', () =>
    withSamba(async ({ samba, store }) => {
      await samba.accept(await ldif({ account: 'alice', kvno: 2, pwdLastSet: filetime(NOW - 5000), password: 'Pw-One-1' }), undefined);
      await settled();
      const again = await samba.accept(await ldif({ account: 'alice-renamed', kvno: 2, pwdLastSet: filetime(NOW - 5000), password: 'Pw-One-1' }), undefined);
      assert.deepEqual(again, { ok: true, status: 'skipped', reason: 'the password did not change (key version 2 was taken)' });
      const next = await samba.accept(await ldif({ account: 'alice', kvno: 3, pwdLastSet: filetime(NOW - 1000), password: 'Pw-Two-2' }), undefined);
      assert.equal(next.ok && next.status, 'queued');
      assert.equal((await store.peek(10)).length, 2);
    }));

  test('must change at next logon (pwdLastSet 0) carries no time: the agent\'s clock', () =>
    withSamba(async ({ samba, store }) => {
      await samba.accept(await ldif({ account: 'bob', kvno: 5, pwdLastSet: 0n, password: 'Pw-Reset-1' }), undefined);
      assert.equal((await store.peek(1))[0]?.changedAt, NOW);
    }));

  test('the first pass of a new cursor skips passwords set before it, and forwards one set during it', () =>
    withSamba(async ({ samba, store }) => {
      samba.beginFirstPass(NOW - 10_000);
      const before = await samba.accept(await ldif({ account: 'old', kvno: 1, pwdLastSet: filetime(NOW - 86_400_000), password: 'Pw-Old-1' }), undefined);
      const noTime = await samba.accept(await ldif({ account: 'guest', kvno: 1, pwdLastSet: 0n }), undefined);
      const during = await samba.accept(await ldif({ account: 'new', guid: '87a6c7b8-9404-4ad9-b680-b7f08d63f285', kvno: 4, pwdLastSet: filetime(NOW - 2000), password: 'Pw-New-1' }), undefined);
      samba.endFirstPass();
      assert.deepEqual([before, noTime].map((a) => a.ok && a.status), ['skipped', 'skipped']);
      assert.equal(during.ok && during.status, 'queued');
      assert.deepEqual((await store.peek(10)).map((i) => i.account), ['new']);
      await settled();
      // Skipped in the first pass is remembered: the same report afterwards is no change either.
      const later = await samba.accept(await ldif({ account: 'old', kvno: 1, pwdLastSet: filetime(NOW - 86_400_000), password: 'Pw-Old-1' }), undefined);
      assert.equal(later.ok && later.status, 'skipped');
    }));

  test('existingPasswords: forward makes the first pass an initial sync', () =>
    withSamba(async ({ samba, store }) => {
      samba.beginFirstPass(NOW);
      await samba.accept(await ldif({ account: 'old', kvno: 1, pwdLastSet: filetime(NOW - 86_400_000), password: 'Pw-Old-1' }), undefined);
      samba.endFirstPass();
      assert.deepEqual((await store.peek(10)).map((i) => i.account), ['old']);
    }, 'forward'));

  test("Samba's copy is decrypted only if it is the current password (its NT hash), and only with Samba's key", () =>
    withSamba(async ({ samba, store }) => {
      const stale = await samba.accept(await ldif({ account: 'dave', kvno: 3, pwdLastSet: filetime(NOW - 100), password: 'Pw-New-3', copyOf: 'Pw-Old-2' }), undefined);
      const foreign = await samba.accept(await ldif({ account: 'erin', guid: '87a6c7b8-9404-4ad9-b680-b7f08d63f285', kvno: 3, pwdLastSet: filetime(NOW - 100), password: 'Pw-New-3', copyTo: otherKey.publicKey }), undefined);
      assert.deepEqual([stale, foreign], [{ ok: true, status: 'skipped', reason: 'no cleartext' }, { ok: true, status: 'skipped', reason: 'no cleartext' }]);
      const messages = (await store.listEvents({ limit: 10, codes: [EVENT.NO_CLEARTEXT] })).map((e) => e.message).sort();
      assert.match(messages[0] ?? '', /"dave".*not the current password \(its NT hash differs\)/);
      assert.match(messages[1] ?? '', /"erin".*cannot be decrypted with key/);
      assert.equal((await store.peek(10)).length, 0);
    }));

  test('a new key version without a cleartext is reported once (7048), not forwarded', () =>
    withSamba(async ({ samba, store }) => {
      const answer = await samba.accept(await ldif({ account: 'carol', kvno: 7, pwdLastSet: filetime(NOW - 100) }), undefined);
      assert.deepEqual(answer, { ok: true, status: 'skipped', reason: 'no cleartext' });
      await settled();
      await samba.accept(await ldif({ account: 'carol', kvno: 7, pwdLastSet: filetime(NOW - 100) }), undefined);
      const events = await store.listEvents({ limit: 10, codes: [EVENT.NO_CLEARTEXT] });
      assert.equal(events.length, 1);
      assert.match(events[0]?.message ?? '', /"carol" changed \(key version 7\) but Samba keeps no encrypted copy.*password hash gpg key ids/);
      assert.equal((await store.peek(10)).length, 0);
    }));

  test('what cannot be used is skipped with 7047, so that syncpasswords goes on; deletions are skipped', () =>
    withSamba(async ({ samba, store }) => {
      const unreadable = await samba.accept(Buffer.from('dn: CN=x\nobjectGUID: nonsense\n'), undefined);
      const nameless = await samba.accept(await ldif({ kvno: 1, password: 'Pw-1-abc' }), undefined);
      const control = await samba.accept(await ldif({ account: 'bad\u0007name', kvno: 1, password: 'Pw-1-abc' }), undefined);
      const deleted = await samba.accept(await ldif({ account: 'gone', kvno: 9, deleted: true }), undefined);
      assert.deepEqual([unreadable, nameless, control, deleted].map((a) => a.ok && a.status), ['skipped', 'skipped', 'skipped', 'skipped']);
      assert.equal((await store.listEvents({ limit: 10, codes: [EVENT.CAPTURE_UNREADABLE] })).length, 3);
      assert.equal((await store.peek(10)).length, 0);
    }));

  test('a report for another source is refused', () =>
    withSamba(async ({ samba }) => {
      const answer = await samba.accept(await ldif({ account: 'alice', kvno: 1, password: 'Pw-1-abc' }), 'hr');
      assert.equal(!answer.ok && answer.error, 'unknown-source');
    }));
});
