import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Client, FilterParser, ResultCodeError, type Change, type Control, type Entry, type SearchOptions } from 'ldapts';
import { PwsyncError } from '../core/errors.ts';
import { EVENT } from '../core/events.ts';
import { isUtf8Password, notUtf8 } from '../core/password-text.ts';
import type { Secret } from '../core/secret.ts';
import type { Logger } from '../log/logger.ts';
import { tlsOptions, TlsPinMismatchError, type TlsSettings } from './tls.ts';
import { isTlsError } from '../util/net-errors.ts';

/**
 * Where and as whom to connect. Both the agent's scope directory and the ldap connector's `ldap:`
 * block have this shape.
 */
export interface LdapEndpoint {
  /** `ldaps://host[:port]` or `ldap://host[:port]` (StartTLS unless `insecurePlaintext`). */
  readonly url: string;
  /**
   * Servers of the same directory tried in order when `url` cannot be reached (another domain
   * controller, a replica). Only a failure to connect moves on: a refused certificate or bind is
   * an answer, and the same everywhere.
   */
  readonly failoverUrls?: readonly string[];
  readonly bindDn: string;
  readonly bindPassword: Secret;
  /** Per operation and per connection attempt, in milliseconds. */
  readonly timeout: number;
  readonly insecurePlaintext: boolean;
}

/** Who a connection binds as: the service account, a user (verify, change), or nobody yet. */
export type Credentials = { readonly dn: string; readonly password: Secret } | 'anonymous';

/** The step of opening a connection that failed; start-up turns it into the right problem. */
export type OpenPhase = 'connect' | 'starttls' | 'bind';

/** Opening the connection failed at `phase`; `cause` is ldapts' or the socket's error. */
export class LdapOpenError extends PwsyncError {
  readonly code = 'ERR_LDAP_OPEN';
  // Connectors and the scope map it by phase and cause (connectors/ldap/errors.ts); unmapped, it
  // stays what an unclassified failure was before: worth another try.
  override readonly retryable = true;
  override readonly event = EVENT.RETRY_SCHEDULED;

  constructor(
    readonly phase: OpenPhase,
    options: { cause: unknown },
  ) {
    super(`${phase} failed: ${describeLdapError(options.cause)}`, options);
  }
}

/**
 * Whether `e` is this library's own wrapper of a failure (an open that failed, a reconnect refused):
 * ours by class, but a caller that maps failures to meanings maps these by their cause, rather than
 * passing them on as already classified.
 */
export function isLdapClientError(e: unknown): e is PwsyncError {
  return e instanceof LdapOpenError || e instanceof ReconnectRefused || e instanceof TlsPinMismatchError;
}

/** The message of an ldapts or socket error, with its result code or errno; never a value sent. */
export function describeLdapError(e: unknown): string {
  if (e instanceof ResultCodeError) return `${e.name} (result ${e.code})${e.message ? `: ${e.message}` : ''}`;
  if (e instanceof LdapOpenError) return e.message;
  if (e instanceof Error) {
    const code = 'code' in e && typeof e.code === 'string' ? ` (${e.code})` : '';
    return `${e.message}${code}`;
  }
  return 'unknown error';
}

/**
 * A request that cannot be built (a search filter that does not parse): refused before anything is
 * sent, and the request's fault, never the connection's. Not retried: the same request fails the
 * same way, and reconnecting for it would only churn the connection.
 */
export class LdapRequestError extends PwsyncError {
  readonly code = 'ERR_LDAP_REQUEST';
}

/**
 * `options` with its filter parsed here rather than inside ldapts: there a parse error is a plain
 * `Error` like a broken socket's, and would be taken for a lost connection (issue 16).
 */
function parsedFilter(options: SearchOptions): SearchOptions {
  if (typeof options.filter !== 'string') return options;
  try {
    return { ...options, filter: FilterParser.parseString(options.filter) };
  } catch (e) {
    throw new LdapRequestError(`the search filter cannot be built: ${e instanceof Error ? e.message : 'invalid'}`, { cause: e });
  }
}

/** Raised instead of a connection ldapts would open on its own, unauthenticated; see `LdapConnection`. */
class ReconnectRefused extends PwsyncError {
  readonly code = 'ERR_LDAP_RECONNECT_REFUSED';
  override readonly retryable = true;
  override readonly event = EVENT.RETRY_SCHEDULED;

  constructor() {
    super('the connection was lost; it is reopened with a bind before the next operation');
  }
}

/** One connection: its client, and whether any of its sockets has closed. */
export interface Session {
  readonly client: Client;
  /** The server it is connected to: `url`, or one of `failoverUrls`. */
  readonly url: string;
  lost: boolean;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens one client: connects, upgrades with StartTLS unless the url is ldaps:// or plaintext is
 * allowed, and binds with `credentials`. The client's socket factories refuse to connect again
 * once it is open, and every socket they made marks `state.lost` when it closes (see
 * {@link LdapConnection} for why). When `url` cannot be connected to, the `failoverUrls` are tried
 * in order. Throws {@link LdapOpenError} (the last server's, when none could be reached), or a
 * PolicyError before connecting when the password is not UTF-8 (ldapts binds with text).
 */
export async function openClient(endpoint: LdapEndpoint, tls: TlsSettings, credentials: Credentials): Promise<Session> {
  // ldapts binds with a string: bytes that are not UTF-8 would be sent as U+FFFD, a bind with
  // another password (which counts as a failed attempt where the directory locks accounts out).
  if (credentials !== 'anonymous' && !credentials.password.useSync(isUtf8Password)) throw notUtf8('an LDAP simple bind (ldapts sends the password as text)');
  let last: unknown;
  for (const url of [endpoint.url, ...(endpoint.failoverUrls ?? [])]) {
    try {
      return await openClientAt(url, endpoint, tls, credentials);
    } catch (e) {
      if (!(e instanceof LdapOpenError) || e.phase !== 'connect') throw e;
      last = e;
    }
  }
  throw last;
}

async function openClientAt(url: string, endpoint: LdapEndpoint, tls: TlsSettings, credentials: Credentials): Promise<Session> {
  const { timeout } = endpoint;
  const ldaps = isLdaps(url);
  const options = tlsOptions(url, tls);
  let mayConnect = true;
  const state = { lost: false };
  const refuseAfterOpen = <F extends (...args: never[]) => Socket>(connect: F): F =>
    ((...args: Parameters<F>) => {
      if (!mayConnect) throw new ReconnectRefused();
      const socket = connect(...args);
      socket.once('close', () => (state.lost = true));
      wipeWhenWritten(socket);
      return socket;
    }) as F;
  const client = new Client({
    url,
    timeout,
    connectTimeout: timeout,
    // ldapts treats any tlsOptions as "connect with TLS": give them only to an ldaps:// client.
    ...(ldaps ? { tlsOptions: options } : {}),
    createConnection: refuseAfterOpen(netConnect),
    createSecureConnection: refuseAfterOpen(tlsConnect),
  });
  // Set by `steps`; the cast keeps TypeScript from narrowing it to its first value.
  let phase = 'connect' as OpenPhase;
  const steps = async (): Promise<void> => {
    if (!ldaps && !endpoint.insecurePlaintext) {
      phase = 'starttls';
      await client.startTLS({ ...options });
    }
    phase = 'bind';
    if (credentials === 'anonymous') {
      // Connect now (an anonymous bind opens the socket and proves the server answers).
      await client.bind('', '');
      return;
    }
    // ldapts takes the bind password only as a string; it lives for this call alone. Checked to
    // be UTF-8 before anything was opened.
    await credentials.password.use((clear) => client.bind(credentials.dn, clear.toString('utf8')));
  };
  try {
    // StartTLS's handshake has no timeout of its own in ldapts: bound the whole opening.
    await withTimeout(steps(), timeout * 2, `opening ${url}`);
    return Object.assign(state, { client, url });
  } catch (e) {
    await client.unbind().catch(() => undefined);
    // The socket is opened by the first step (StartTLS, or the bind without it): a failure there
    // that is neither an answer nor TLS is the connection's.
    throw new LdapOpenError(phase !== 'connect' && !(e instanceof ResultCodeError) && !isTlsError(e) ? 'connect' : phase, { cause: e });
  } finally {
    mayConnect = false;
  }
}

export function isLdaps(url: string): boolean {
  return url.toLowerCase().startsWith('ldaps:');
}

/** How a connection to `endpoint` is protected, for logs and reports. */
export function transportOf(endpoint: Pick<LdapEndpoint, 'url' | 'insecurePlaintext'>): string {
  if (isLdaps(endpoint.url)) return 'ldaps';
  return endpoint.insecurePlaintext ? 'plaintext (insecurePlaintext)' : 'StartTLS';
}

/**
 * One bound connection to the directory, opened on first use and reopened after it is lost.
 *
 * ldapts reconnects by itself when an operation finds its socket closed, but that new connection is
 * not bound (and, after StartTLS, not encrypted): a search on it would run as anonymous, and an ACL
 * that hides groups from anonymous would turn into "not a member". So each connection is a client
 * of its own whose socket factories refuse to connect once the bind is done; a lost connection
 * fails the operation, and the operation opens a new client (StartTLS, bind) and tries once more.
 *
 * The factories also watch every socket they make: after StartTLS, ldapts listens for the close
 * of the plain socket only, keeps believing the TLS one connected, and lets the next operation
 * wait for its timeout. A closed socket marks its session lost here, and it is not used again.
 *
 * Operations may overlap: LDAP multiplexes them on one connection by message id.
 */
export class LdapConnection {
  readonly #endpoint: LdapEndpoint;
  readonly #tls: TlsSettings;
  readonly #log: Logger;
  readonly #label: string;
  #session: Session | undefined;
  #opening: Promise<Session> | undefined;
  #closed = false;

  constructor(endpoint: LdapEndpoint, tls: TlsSettings, log: Logger, label = 'directory') {
    this.#endpoint = endpoint;
    this.#tls = tls;
    this.#log = log;
    this.#label = label;
  }

  /** How the connection is protected, for `describe()`. */
  get transport(): string {
    return transportOf(this.#endpoint);
  }

  /** Opens and binds now, so that start-up reports a refused bind or an untrusted certificate. */
  async open(): Promise<void> {
    await this.#connected();
  }

  /** A search; the entries only. Throws ldapts' errors, {@link LdapOpenError}, or {@link LdapRequestError} before connecting. */
  async search(base: string, options: SearchOptions, controls?: Control | Control[]): Promise<Entry[]> {
    const request = parsedFilter(options);
    return this.#run(async (client) => (await client.search(base, request, controls)).searchEntries);
  }

  modify(dn: string, changes: Change | Change[], controls?: Control | Control[]): Promise<void> {
    return this.#run((client) => client.modify(dn, changes, controls));
  }

  exop(oid: string, value?: Buffer): Promise<{ oid?: string; value?: string }> {
    return this.#run((client) => client.exop(oid, value));
  }

  /**
   * A paged search, one page at a time: never more than a page in memory. A connection lost in the
   * middle fails the search (the caller starts again; a page cookie belongs to its connection).
   */
  async *searchPages(base: string, options: SearchOptions, controls?: Control | Control[]): AsyncGenerator<Entry[]> {
    const request = parsedFilter(options);
    const { session } = await this.#connected();
    try {
      for await (const page of session.client.searchPaginated(base, request, controls)) yield page.searchEntries;
    } catch (e) {
      if (!(e instanceof ResultCodeError)) this.#drop(session);
      throw e;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session ?? (await this.#opening?.catch(() => undefined));
    this.#session = undefined;
    await session?.client.unbind().catch(() => undefined);
  }

  async #run<T>(operation: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { session, fresh } = await this.#connected();
      try {
        return await operation(session.client);
      } catch (e) {
        if (e instanceof ResultCodeError) throw e;
        // The connection broke under the operation: drop it. A connection that had been idle may
        // simply have been closed by the server, so one more try on a new one is worth it.
        this.#drop(session);
        if (fresh || attempt > 1 || this.#closed) throw e;
        this.#log.warn({ err: e, url: this.#endpoint.url }, `${this.#label} connection lost; reconnecting`);
      }
    }
  }

  async #connected(): Promise<{ session: Session; fresh: boolean }> {
    if (this.#closed) throw new Error(`the ${this.#label} connection is closed`);
    const current = this.#session;
    if (current !== undefined && !current.lost && current.client.isBound) return { session: current, fresh: false };
    if (current !== undefined) this.#drop(current);
    this.#opening ??= openClient(this.#endpoint, this.#tls, { dn: this.#endpoint.bindDn, password: this.#endpoint.bindPassword }).finally(() => (this.#opening = undefined));
    const session = await this.#opening;
    if (this.#isClosed()) {
      await session.client.unbind().catch(() => undefined);
      throw new Error(`the ${this.#label} connection is closed`);
    }
    this.#session = session;
    if (session.url !== this.#endpoint.url) this.#log.warn({ url: this.#endpoint.url, connected: session.url }, `${this.#label}: ${this.#endpoint.url} cannot be reached; connected to a failover server`);
    return { session, fresh: true };
  }

  // A method, so that the check after an await is not narrowed away by the one before it.
  #isClosed(): boolean {
    return this.#closed;
  }

  #drop(session: Session): void {
    session.lost = true;
    if (this.#session === session) this.#session = undefined;
    void session.client.unbind().catch(() => undefined);
  }
}

/**
 * ldapts serialises each request into a buffer of its own, writes it and drops it, unwiped: a
 * Password Modify request, or a bind, would leave the password in freed memory for as long as
 * nothing reuses it (found by the memory scan in connectors/ldap/connector.test.ts). Every Buffer
 * written to the socket is wiped once the socket has taken it; ldapts never reads one again.
 */
function wipeWhenWritten(socket: Socket): void {
  const write = socket.write.bind(socket);
  socket.write = (chunk: unknown, ...rest: unknown[]): boolean => {
    if (!Buffer.isBuffer(chunk)) return Reflect.apply(write, socket, [chunk, ...rest]) as boolean;
    const last = rest.at(-1);
    const callback = typeof last === 'function' ? (last as (error?: Error | null) => void) : undefined;
    const options = callback === undefined ? rest : rest.slice(0, -1);
    return Reflect.apply(write, socket, [
      chunk,
      ...options,
      (error?: Error | null) => {
        chunk.fill(0);
        callback?.(error);
      },
    ]) as boolean;
  };
}
