import { InvalidInputError } from '../../core/errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { CaptureAcceptor } from '../capture/accept.ts';
import type { CaptureAnswer } from '../capture/protocol.ts';
import type { SambaFrameHandler } from '../capture/socket.ts';
import type { AgentStore } from '../queue/index.ts';
import { Secret } from '../../core/secret.ts';
import type { SambaGpgKeys } from './gpg.ts';
import { filetimeToEpochMs, parseSyncPasswordsLdif, type SambaAccountState } from './ldif.ts';
import { ntHash, utf16leToUtf8 } from './nt-hash.ts';
import { EVENT } from '../../core/events.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';

/**
 * What the agent does with one account syncpasswords reports. syncpasswords reports an account's
 * whole current state whenever a watched attribute changes (the password, but also a rename or a
 * disable), and reports every account once when its cursor is new; only a password the agent has
 * not taken yet is forwarded, told by the account's key version (msDS-KeyVersionNumber, which AD
 * raises with every password set and replicates with it).
 *
 * The account is sent to the server by objectGUID and sAMAccountName, and the change time is the
 * directory's pwdLastSet, so that changes made at two domain controllers are ordered as the
 * directory ordered them. A report the agent cannot use is answered `skipped` with an event, not
 * refused: refusing would stop syncpasswords at that account, and every later change behind it.
 */
export class SambaCapture implements SambaFrameHandler {
  /** Set while the first pass over a new cursor runs: passwords set before it are not changes. */
  #firstPassSince: number | undefined;

  constructor(
    private readonly deps: {
      readonly source: string;
      readonly existingPasswords: 'skip' | 'forward';
      readonly acceptor: CaptureAcceptor;
      /** Opens Samba's encrypted copies. */
      readonly keys: Pick<SambaGpgKeys, 'decrypt'>;
      readonly store: AgentStore;
      readonly log: Logger;
      readonly now: () => number;
    },
  ) {}

  /** The supervisor runs the first pass of a new cursor between these two. */
  beginFirstPass(since: number): void {
    this.#firstPassSince = since;
  }

  endFirstPass(): void {
    this.#firstPassSince = undefined;
  }

  async accept(ldif: Buffer, source: string | undefined): Promise<CaptureAnswer> {
    const { log, store } = this.deps;
    if (source !== undefined && source !== this.deps.source) {
      return { ok: false, error: 'unknown-source', message: `the Samba capture speaks for "${this.deps.source}", not ${quoteUntrusted(source)}` };
    }
    let state: SambaAccountState;
    try {
      state = parseSyncPasswordsLdif(ldif);
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      await store.appendEvents([{ code: EVENT.CAPTURE_UNREADABLE, system: this.deps.source, message: `syncpasswords reported an account the agent cannot read (${e.message}); skipped` }]);
      log.error({ err: e }, 'unreadable syncpasswords report; skipped');
      return { ok: true, status: 'skipped', reason: e.message };
    }
    try {
      return await this.#take(state);
    } finally {
      state.encryptedPassword?.fill(0);
      state.ntHash?.fill(0);
    }
  }

  async #take(state: SambaAccountState): Promise<CaptureAnswer> {
    const { source, log, store } = this.deps;
    const account = state.sAMAccountName;
    const described = { source, account, objectGuid: state.objectGuid, keyVersion: state.keyVersion };
    if (state.deleted) return this.#skip(described, 'the account was deleted');
    if (account === undefined) {
      await store.appendEvents([{ code: EVENT.CAPTURE_UNREADABLE, system: source, anchor: state.objectGuid, message: `syncpasswords reported ${quoteUntrusted(state.dn)} without its sAMAccountName; skipped` }]);
      return this.#skip(described, 'no sAMAccountName in the report');
    }
    const mark = state.keyVersion;
    const taken = mark === undefined ? undefined : await store.getMark(source, state.objectGuid);
    if (mark !== undefined && taken !== undefined && mark <= taken) return this.#skip(described, `the password did not change (key version ${mark} was taken)`);

    const changedAt = state.pwdLastSet === undefined ? undefined : filetimeToEpochMs(state.pwdLastSet);
    const since = this.#firstPassSince;
    if (since !== undefined && this.deps.existingPasswords === 'skip' && (changedAt === undefined || changedAt < since)) {
      if (mark !== undefined) this.#remember(state.objectGuid, mark);
      return this.#skip(described, 'set before capture started');
    }
    const cleartext = await this.#cleartext(state);
    if (typeof cleartext === 'string') {
      if (mark !== undefined) this.#remember(state.objectGuid, mark);
      await store.appendEvents([{ code: EVENT.NO_CLEARTEXT, system: source, anchor: account, message: `the password of ${quoteUntrusted(account)} changed (key version ${mark ?? 'unknown'}) but ${cleartext} (docs/sources/samba-ad.md)` }]);
      log.error({ ...described, reason: cleartext }, 'password changed without a cleartext to forward');
      return { ok: true, status: 'skipped', reason: 'no cleartext' };
    }
    try {
      return await this.#forward(state, account, changedAt, cleartext, described);
    } finally {
      cleartext.dispose();
    }
  }

  /**
   * The account's current password, from Samba's encrypted copy, checked against its NT hash as
   * syncpasswords checks it (a copy left from an earlier password must not be forwarded); or why not.
   */
  async #cleartext(state: SambaAccountState): Promise<Secret | string> {
    if (state.encryptedPassword === undefined) return 'Samba keeps no encrypted copy of it: check smb.conf\'s "password hash gpg key ids"';
    let utf16: Uint8Array;
    try {
      utf16 = await this.deps.keys.decrypt(state.encryptedPassword);
    } catch (e) {
      if (e instanceof InvalidInputError) return e.message;
      throw e;
    }
    try {
      if (state.ntHash === undefined) return 'the report has no unicodePwd to check the copy against';
      const hash = ntHash(utf16);
      const current = hash.equals(state.ntHash);
      hash.fill(0);
      if (!current) return 'Samba\'s encrypted copy is not the current password (its NT hash differs)';
      const utf8 = utf16leToUtf8(utf16);
      if (utf8 === undefined || utf8.length === 0) return 'the decrypted copy is not UTF-16 text';
      return Secret.adopt(utf8);
    } finally {
      utf16.fill(0);
    }
  }

  async #forward(state: SambaAccountState, account: string, changedAt: number | undefined, secret: Secret, described: Readonly<Record<string, unknown>>): Promise<CaptureAnswer> {
    const { source, log, store } = this.deps;
    const mark = state.keyVersion;
    const answer = await this.deps.acceptor.accept({
      account,
      anchor: state.objectGuid,
      source,
      // 0 (must change at next logon) carries no time: the agent's clock then.
      changedAt: changedAt === undefined || changedAt > this.deps.now() ? undefined : changedAt,
      secret,
      via: 'samba',
    });
    if (!answer.ok && (answer.error === 'malformed' || answer.error === 'unknown-source')) {
      // Asking again will not help, and refusing would hold up every change behind this one.
      await store.appendEvents([{ code: EVENT.CAPTURE_UNREADABLE, system: source, anchor: account, message: `the change of ${quoteUntrusted(account)} was not taken: ${answer.message}` }]);
      log.error({ ...described, reason: answer.message }, 'syncpasswords report not taken; skipped');
      return { ok: true, status: 'skipped', reason: answer.message };
    }
    // Not waited for: the hook is answered once the change is queued. A mark lost in a crash only
    // means the same password is forwarded once more, which the targets take as it is.
    if (answer.ok && mark !== undefined) this.#remember(state.objectGuid, mark);
    return answer;
  }

  #remember(objectGuid: string, mark: number): void {
    this.deps.store.setMark(this.deps.source, objectGuid, mark).catch((e: unknown) => {
      this.deps.log.warn({ err: e, objectGuid }, 'the key version of a captured password was not recorded; a later report of it will be forwarded again');
    });
  }

  #skip(described: Readonly<Record<string, unknown>>, reason: string): CaptureAnswer {
    this.deps.log.debug({ ...described, reason }, 'syncpasswords report skipped');
    return { ok: true, status: 'skipped', reason };
  }
}
