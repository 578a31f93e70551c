import { readFile } from 'node:fs/promises';
import { AndFilter, Attribute, Change, EqualityFilter, FilterParser, OrFilter, ResultCodeError, type Filter } from 'ldapts';
import {
  AccountNotFoundError, ConfigError, CurrentPasswordError, InsecureConnectionError, InvalidInputError, NotConfiguredError, PolicyError,
  TargetDataError,
} from '../../core/errors.ts';
import type { Anchor } from '../../core/model.ts';
import { isUtf8Password, notUtf8 } from '../../core/password-text.ts';
import type { Secret } from '../../core/secret.ts';
import { hashSecret } from '../../crypto/hash/index.ts';
import type { HashSpec } from '../../crypto/hash/spec.ts';
import type { Logger } from '../../log/logger.ts';
import { LdapConnection, LdapOpenError, transportOf, type LdapEndpoint } from '../../ldap-client/connection.ts';
import type { TlsSettings } from '../../ldap-client/tls.ts';
import type {
  AccountDelta, AccountLookup, AccountQuery, AccountRecord, Capability, ConnectionReport, Connector, DeltaImport, GroupMembers, Members, MembersQuery, PasswordChange,
  PasswordSet, PasswordVerify, SetPasswordOptions, Watermark,
} from '../types.ts';
import { DEFAULT_GROUPS, type LdapConfig } from './config.ts';
import { DnCache } from './dn-cache.ts';
import { anchorFilter } from './entries.ts';
import { mapLdapError } from './errors.ts';
import { readAccounts, readChanges, watermarkNow, type ImportPlan } from './import.ts';
import { resolveMembers } from './members.ts';
import { passwordModifyRequest, PASSWORD_MODIFY_OID, unicodePwd } from './password.ts';
import { asUser, BindChecker } from './user-bind.ts';

export interface LdapConnectorOptions {
  readonly system: string;
  readonly config: LdapConfig;
  /** The CA file's absolute path, when `tls.ca` is set; read at the first connection. */
  readonly caFile: string | undefined;
  readonly plan: ImportPlan;
  readonly hash: HashSpec | undefined;
  /** `password.requireSecure`: no password is sent over a connection that is not secure. */
  readonly requireSecure: boolean;
  readonly log: Logger;
  readonly now: () => number;
}

/** Accounts whose DN is remembered at most; the least recently used go first. */
const DN_CACHE_ENTRIES = 100_000;
/** The cache reads all DNs at most this often (on an account it does not know). */
const DN_REFILL_INTERVAL_MS = 10 * 60_000;
const INVALID_CREDENTIALS = 49;
const NO_SUCH_OBJECT = 32;

/** What every ldap connector declares. */
export const LDAP_CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['import', 'deltaImport', 'lookupAccount', 'setPassword', 'changePassword', 'verifyPassword', 'groupMembers']);

/**
 * A directory over LDAPv3: OpenLDAP, 389 DS, Active Directory and Samba AD (`flavor: ad`).
 *
 * Accounts are addressed by their anchor (entryUUID, objectGUID): its DN is found by a search and
 * remembered, and looked up again when the entry was renamed or moved. Service operations run on a
 * few long-lived connections (a TLS handshake per change would cap throughput at about a hundred
 * a second); binds as a person run on a connection of their own.
 */
export class LdapConnector implements Connector, PasswordSet, PasswordChange, PasswordVerify, DeltaImport, AccountLookup, GroupMembers {
  readonly kind = 'ldap';
  readonly capabilities = LDAP_CAPABILITIES;
  readonly #o: LdapConnectorOptions;
  readonly #endpoint: LdapEndpoint;
  readonly #dns: DnCache;
  #tls: Promise<TlsSettings> | undefined;
  #connections: Promise<LdapConnection[]> | undefined;
  #checker: Promise<BindChecker> | undefined;
  #next = 0;

  constructor(options: LdapConnectorOptions) {
    this.#o = options;
    this.#dns = new DnCache(DN_CACHE_ENTRIES, DN_REFILL_INTERVAL_MS, options.now);
    const { url, failoverUrls, bindDn, bindPassword, timeout, insecurePlaintext } = options.config;
    this.#endpoint = { url, failoverUrls, bindDn, bindPassword, timeout, insecurePlaintext };
  }

  isSecure(): boolean {
    return !this.#o.config.insecurePlaintext && this.#o.config.tls.rejectUnauthorized;
  }

  async testConnection(): Promise<ConnectionReport> {
    const { config } = this.#o;
    const secure = this.isSecure();
    const transport = transportOf(config);
    try {
      const connection = await this.#connection();
      for (const base of config.baseDns) await connection.search(base, { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] });
      return { ok: true, secure, identity: config.bindDn, detail: `${config.url} (${transport}, ${config.flavor}); ${config.baseDns.length} base DN(s) readable` };
    } catch (e) {
      const err = mapLdapError(e, config.url, 'connecting to');
      return { ok: false, secure, identity: config.bindDn, detail: `${err.code}: ${err.message}` };
    }
  }

  /** Opens the service connections and reads every account's DN (see DnCache). */
  async prepare(): Promise<void> {
    const pool = await this.#pool();
    await Promise.all(pool.map((c) => c.open()));
    await this.#refillDns();
  }

  #refillDns(): Promise<void> {
    return this.#dns.refill(() => this.#allDns(), (e) => this.#o.log.warn({ err: e }, 'reading every account\'s DN failed; looking accounts up one by one'));
  }

  // Import --------------------------------------------------------------------------------

  importAccounts(): AsyncIterable<AccountRecord> {
    return this.#read((connection) => this.#accounts(connection));
  }

  async watermark(): Promise<Watermark> {
    return watermarkNow(await this.#connection(), this.#o.config.flavor, this.#o.now());
  }

  importChangesSince(since: Watermark): AsyncIterable<AccountDelta> {
    return this.#read((connection) => this.#changes(connection, since));
  }

  /**
   * One search under each base DN: the import's filter and the anchor or the login (a new account
   * a change names before the next import). Its DN is remembered for the writes that follow.
   */
  async lookupAccount(query: AccountQuery): Promise<readonly AccountRecord[]> {
    const either: Filter[] = [];
    if (query.anchor !== undefined) {
      const byAnchor = anchorFilter(this.#o.plan.anchor, query.anchor);
      if (byAnchor !== undefined) either.push(byAnchor);
    }
    if (query.login !== undefined) either.push(new EqualityFilter({ attribute: query.login.attribute, value: query.login.value }));
    const [only] = either;
    if (only === undefined) return [];
    const found: AccountRecord[] = [];
    for await (const { anchor, attributes, dn } of this.#read((connection) => readAccounts(connection, this.#o.plan, this.#o.log, either.length === 1 ? only : new OrFilter({ filters: either })))) {
      this.#dns.remember(anchor, dn);
      found.push({ anchor, attributes });
      // The anchor's account and two by login are enough for the engine to see that a login names several.
      if (found.length >= 3) break;
    }
    return found;
  }

  /** Accounts as read; each one's DN is remembered for the writes that follow an import. */
  async *#accounts(connection: LdapConnection): AsyncGenerator<AccountRecord> {
    for await (const { anchor, attributes, dn } of readAccounts(connection, this.#o.plan, this.#o.log)) {
      this.#dns.remember(anchor, dn);
      yield { anchor, attributes };
    }
  }

  async *#changes(connection: LdapConnection, since: Watermark): AsyncGenerator<AccountDelta> {
    for await (const delta of readChanges(connection, this.#o.plan, since, this.#o.log)) {
      if (delta.kind === 'removed') {
        this.#dns.forget(delta.anchor);
        yield delta;
      } else {
        const { anchor, attributes, dn } = delta.record;
        this.#dns.remember(anchor, dn);
        yield { kind: 'changed', record: { anchor, attributes } };
      }
    }
  }

  async *#read<T>(read: (connection: LdapConnection) => AsyncGenerator<T>): AsyncGenerator<T> {
    let connection: LdapConnection;
    try {
      connection = await this.#connection();
    } catch (e) {
      throw mapLdapError(e, this.#o.config.url, 'connecting to');
    }
    yield* read(connection);
  }

  // Groups --------------------------------------------------------------------------------

  /** The accounts a source protects (see members.ts); a lost directory is a TransientError. */
  async membersOf(query: MembersQuery): Promise<Members> {
    const { config, plan } = this.#o;
    const defaults = DEFAULT_GROUPS[config.flavor];
    const groups = {
      baseDn: config.groups.baseDn,
      filter: config.groups.filter ?? defaults.filter,
      nameAttribute: config.groups.nameAttribute ?? defaults.nameAttribute,
      memberAttribute: config.groups.memberAttribute,
    };
    try {
      return await resolveMembers(await this.#connection(), query, groups, plan);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw mapLdapError(e, config.url, 'resolving the protected accounts on');
    }
  }

  // Passwords -----------------------------------------------------------------------------

  async setPassword(anchor: Anchor, secret: Secret, options: SetPasswordOptions): Promise<void> {
    this.#refuseInsecure('set a password');
    const force = options.forceChangeAtNextLogon === true;
    await this.#onEntry(anchor, 'setting the password of', async (dn) => {
      if (this.#o.config.checkBeforeWrite && !force && (await this.#binds(dn, secret))) {
        this.#o.log.debug({ anchor }, 'the password already works; nothing written');
        return;
      }
      try {
        await this.#write(dn, secret, force);
      } catch (e) {
        // A retry of a write whose answer was lost meets its own effect: with a history policy the
        // server refuses "the same password again". If the password already works, it is set.
        // Only on a retry: the check is a bind, and a failed bind counts as a bad password where
        // the directory counts them (AD lockout), so a plain policy refusal must not cost one.
        const retry = (options.attempt ?? 1) > 1;
        if (retry && !force && mapLdapError(e, dn, 'setting the password of') instanceof PolicyError && (await this.#binds(dn, secret))) {
          this.#o.log.info({ anchor }, 'the policy refused a password the account already has; counted as set');
          return;
        }
        throw e;
      }
    });
  }

  async changePassword(anchor: Anchor, current: Secret, next: Secret): Promise<void> {
    this.#refuseInsecure('change a password');
    if (current.length === 0) throw new CurrentPasswordError('the current password is empty');
    await this.#onEntry(anchor, 'changing the password of', async (dn) => {
      try {
        await asUser(this.#endpoint, await this.#tlsSettings(), dn, current, async (client) => {
          if (this.#o.config.flavor === 'ad') {
            const [old, fresh] = await Promise.all([current.use(unicodePwd), next.use(unicodePwd)]);
            try {
              // Delete the old value and add the new one in one modify: AD's "change" (checks the
              // old password and the history), as opposed to a replace (an administrator's reset).
              await client.modify(dn, [
                new Change({ operation: 'delete', modification: new Attribute({ type: 'unicodePwd', values: [old] }) }),
                new Change({ operation: 'add', modification: new Attribute({ type: 'unicodePwd', values: [fresh] }) }),
              ]);
            } finally {
              old.fill(0);
              fresh.fill(0);
            }
            return;
          }
          const request = await current.use((oldPassword) => next.use((newPassword) => passwordModifyRequest({ oldPassword, newPassword })));
          try {
            await client.exop(PASSWORD_MODIFY_OID, request);
          } finally {
            request.fill(0);
          }
        });
      } catch (e) {
        const cause = e instanceof LdapOpenError ? e.cause : undefined;
        if (e instanceof LdapOpenError && e.phase === 'bind' && cause instanceof ResultCodeError && cause.code === INVALID_CREDENTIALS) {
          throw new CurrentPasswordError(`${dn}: the current password was not accepted`, { cause: e });
        }
        throw e;
      }
    });
  }

  async verifyPassword(anchor: Anchor, secret: Secret): Promise<boolean> {
    this.#refuseInsecure('verify a password');
    if (!secret.useSync(isUtf8Password)) throw notUtf8('a verification by LDAP bind (ldapts sends the password as text)');
    return this.#onEntry(anchor, 'verifying the password of', (dn) => this.#binds(dn, secret));
  }

  async close(): Promise<void> {
    const connections = await this.#connections?.catch(() => []);
    const checker = await this.#checker?.catch(() => undefined);
    this.#connections = undefined;
    this.#checker = undefined;
    await Promise.all([...(connections ?? []).map((c) => c.close()), checker?.close()]);
  }

  /** The configured write: unicodePwd (AD), Password Modify, or a hash computed here. */
  async #write(dn: string, secret: Secret, force: boolean): Promise<void> {
    const { config } = this.#o;
    const connection = await this.#connection();
    if (config.flavor === 'ad') {
      const value = await secret.use(unicodePwd);
      try {
        const changes = [new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [value] }) })];
        // pwdLastSet 0 is AD's "must change password at next logon"; same modify, so both or neither.
        if (force) changes.push(new Change({ operation: 'replace', modification: new Attribute({ type: 'pwdLastSet', values: ['0'] }) }));
        await connection.modify(dn, changes);
      } finally {
        value.fill(0);
      }
      return;
    }
    if (config.passwordMethod === 'hash') {
      if (this.#o.hash === undefined) throw new NotConfiguredError(`system ${this.#o.system}: ldap.passwordMethod is hash and password.hash is not set`);
      const hashed = await hashSecret(this.#o.hash, secret);
      await connection.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: config.passwordAttribute, values: [hashed] }) }));
    } else {
      const request = await secret.use((newPassword) => passwordModifyRequest({ userDn: dn, newPassword }));
      try {
        await connection.exop(PASSWORD_MODIFY_OID, request);
      } finally {
        request.fill(0);
      }
    }
    // ppolicy's pwdReset: the person must change the password before anything else (needs the
    // `manage` right on the entry for the service account).
    if (force) await connection.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'pwdReset', values: ['TRUE'] }) }));
  }

  async #binds(dn: string, secret: Secret): Promise<boolean> {
    this.#checker ??= this.#tlsSettings().then((tls) => new BindChecker(this.#endpoint, tls, this.#o.log));
    return (await this.#checker).check(dn, secret);
  }

  /**
   * Runs `fn` with the DN of the account `anchor` names, mapping what fails. A DN remembered from an
   * earlier search that no longer exists (renamed, moved) is looked up again once.
   */
  async #onEntry<T>(anchor: Anchor, action: string, fn: (dn: string) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.#dns.get(anchor) === undefined) await this.#refillDns();
      const cached = this.#dns.get(anchor);
      let dn: string;
      try {
        dn = cached ?? (await this.#lookup(anchor));
      } catch (e) {
        throw mapLdapError(e, `account ${anchor}`, 'looking up');
      }
      try {
        return await fn(dn);
      } catch (e) {
        if (cached !== undefined && attempt === 1 && e instanceof ResultCodeError && e.code === NO_SUCH_OBJECT) {
          this.#dns.forget(anchor);
          continue;
        }
        throw mapLdapError(e, dn, action);
      }
    }
  }

  async #lookup(anchor: Anchor): Promise<string> {
    const { config, plan } = this.#o;
    const byAnchor = anchorFilter(plan.anchor, anchor);
    if (byAnchor === undefined) throw new AccountNotFoundError(`no account can have the ${plan.anchor} "${anchor}"`);
    // Only accounts of this system: the same filter and bases as the import.
    const filter: Filter = new AndFilter({ filters: [FilterParser.parseString(plan.filter), byAnchor] });
    const connection = await this.#connection();
    const found: string[] = [];
    for (const base of config.baseDns) {
      const entries = await connection.search(base, { scope: plan.scope, filter, attributes: ['1.1'], sizeLimit: 2 });
      found.push(...entries.map((e) => e.dn));
    }
    const [dn] = found;
    if (dn === undefined) throw new AccountNotFoundError(`no account with ${plan.anchor} ${anchor} under ${config.baseDns.join('; ')}`);
    if (found.length > 1) throw new TargetDataError(`${found.length} entries have ${plan.anchor} ${anchor}; an anchor must name one account`);
    this.#dns.remember(anchor, dn);
    return dn;
  }

  /** Every account's anchor and DN: the import's search, asking for the anchor only. */
  async *#allDns(): AsyncGenerator<readonly [Anchor, string]> {
    const connection = await this.#connection();
    for await (const account of readAccounts(connection, { ...this.#o.plan, names: [] }, this.#o.log)) yield [account.anchor, account.dn];
  }

  #refuseInsecure(action: string): void {
    if (this.#o.requireSecure && !this.isSecure()) {
      const why = this.#o.config.insecurePlaintext ? 'ldap.insecurePlaintext is set' : 'tls.rejectUnauthorized is false';
      throw new InsecureConnectionError(`system ${this.#o.system} requires a secure connection and ${why}; refusing to ${action}`);
    }
  }

  #tlsSettings(): Promise<TlsSettings> {
    const { tls } = this.#o.config;
    const caFile = this.#o.caFile;
    this.#tls ??= (async (): Promise<TlsSettings> => {
      let ca: Buffer | undefined;
      if (caFile !== undefined) {
        try {
          ca = await readFile(caFile);
        } catch (e) {
          const code = e instanceof Error && 'code' in e ? String(e.code) : 'error';
          throw new InvalidInputError(`system ${this.#o.system}: cannot read ldap.tls.ca ${caFile} (${code})`, { cause: e });
        }
      }
      return { ca, rejectUnauthorized: tls.rejectUnauthorized, pins: tls.pins };
    })();
    // A failed read is tried again next time (the file may be fixed meanwhile).
    this.#tls.catch(() => (this.#tls = undefined));
    return this.#tls;
  }

  #pool(): Promise<LdapConnection[]> {
    this.#connections ??= this.#tlsSettings().then((tls) =>
      Array.from({ length: this.#o.config.connections }, () => new LdapConnection(this.#endpoint, tls, this.#o.log, `system ${this.#o.system}`)),
    );
    this.#connections.catch(() => (this.#connections = undefined));
    return this.#connections;
  }

  /** The next service connection, round robin; each opens on first use. */
  async #connection(): Promise<LdapConnection> {
    const pool = await this.#pool();
    const connection = pool[this.#next++ % pool.length];
    if (connection === undefined) throw new Error('no LDAP connection');
    return connection;
  }
}
