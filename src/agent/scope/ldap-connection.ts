import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError, type Entry, type SearchOptions } from 'ldapts';
import type { Logger } from '../../log/logger.ts';
import type { LdapDirectoryConfig } from './config.ts';

/** The step of opening a connection that failed; start-up turns it into the right problem. */
export type OpenPhase = 'connect' | 'starttls' | 'bind';

/** Opening the connection failed at `phase`; `cause` is ldapts' or the socket's error. */
export class LdapOpenError extends Error {
  constructor(
    readonly phase: OpenPhase,
    options: { cause: unknown },
  ) {
    super(`${phase} failed: ${describeLdapError(options.cause)}`, options);
    this.name = new.target.name;
  }
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

/** Whether `e` says the TLS layer failed: an untrusted or mismatched certificate, a handshake error. */
export function isTlsError(e: unknown): boolean {
  const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : '';
  return /CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|HOSTNAME/.test(code);
}

/** Raised instead of a connection ldapts would open on its own, unauthenticated; see `LdapConnection`. */
class ReconnectRefused extends Error {
  constructor() {
    super('the connection was lost; it is reopened with a bind before the next operation');
    this.name = new.target.name;
  }
}

/** One connection: its client, and whether any of its sockets has closed. */
interface Session {
  readonly client: Client;
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
 * One bound connection to the directory, opened on first use and reopened after it is lost.
 *
 * ldapts reconnects by itself when an operation finds its socket closed, but that new connection is
 * not bound (and, after StartTLS, not encrypted): a search on it would run as anonymous, and an ACL
 * that hides groups from anonymous would turn into "not a member". So each connection is a client
 * of its own whose socket factories refuse to connect once the bind is done; a lost connection
 * fails the operation, and `search` opens a new client (StartTLS, bind) and tries once more.
 *
 * The factories also watch every socket they make: after StartTLS, ldapts listens for the close
 * of the plain socket only, keeps believing the TLS one connected, and lets the next operation
 * wait for its timeout. A closed socket marks its session lost here, and it is not used again.
 */
export class LdapConnection {
  readonly #config: LdapDirectoryConfig;
  readonly #tls: ConnectionOptions;
  readonly #log: Logger;
  #session: Session | undefined;
  #opening: Promise<Session> | undefined;
  #closed = false;

  constructor(config: LdapDirectoryConfig, ca: Buffer | undefined, log: Logger) {
    this.#config = config;
    this.#log = log;
    const host = new URL(config.url).hostname.replace(/^\[|\]$/g, '');
    this.#tls = {
      host,
      // SNI takes a name, never an address.
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(ca === undefined ? {} : { ca: [ca] }),
      rejectUnauthorized: config.tls.rejectUnauthorized,
    };
  }

  get #ldaps(): boolean {
    return this.#config.url.toLowerCase().startsWith('ldaps:');
  }

  /** How the connection is protected, for `describe()`. */
  get transport(): string {
    if (this.#ldaps) return 'ldaps';
    return this.#config.insecurePlaintext ? 'plaintext (insecurePlaintext)' : 'StartTLS';
  }

  /** Opens and binds now, so that start-up reports a refused bind or an untrusted certificate. */
  async open(): Promise<void> {
    await this.#connected();
  }

  /** A subtree or base search; the entries only. Throws ldapts' errors, or {@link LdapOpenError}. */
  async search(base: string, options: SearchOptions): Promise<Entry[]> {
    for (let attempt = 1; ; attempt++) {
      const { session, fresh } = await this.#connected();
      try {
        return (await session.client.search(base, options)).searchEntries;
      } catch (e) {
        if (e instanceof ResultCodeError) throw e;
        // The connection broke under the operation: drop it. A connection that had been idle may
        // simply have been closed by the server, so one more try on a new one is worth it.
        this.#drop(session);
        if (fresh || attempt > 1 || this.#closed) throw e;
        this.#log.warn({ err: e, url: this.#config.url }, 'scope directory connection lost; reconnecting');
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session ?? (await this.#opening?.catch(() => undefined));
    this.#session = undefined;
    await session?.client.unbind().catch(() => undefined);
  }

  async #connected(): Promise<{ session: Session; fresh: boolean }> {
    if (this.#closed) throw new Error('the scope directory connection is closed');
    const current = this.#session;
    if (current !== undefined && !current.lost && current.client.isBound) return { session: current, fresh: false };
    if (current !== undefined) this.#drop(current);
    this.#opening ??= this.#open().finally(() => (this.#opening = undefined));
    const session = await this.#opening;
    if (this.#isClosed()) {
      await session.client.unbind().catch(() => undefined);
      throw new Error('the scope directory connection is closed');
    }
    this.#session = session;
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

  async #open(): Promise<Session> {
    const { url, timeout, bindDn } = this.#config;
    let mayConnect = true;
    const state = { lost: false };
    const refuseAfterOpen = <F extends (...args: never[]) => Socket>(connect: F): F =>
      ((...args: Parameters<F>) => {
        if (!mayConnect) throw new ReconnectRefused();
        const socket = connect(...args);
        socket.once('close', () => (state.lost = true));
        return socket;
      }) as F;
    const client = new Client({
      url,
      timeout,
      connectTimeout: timeout,
      // ldapts treats any tlsOptions as "connect with TLS": give them only to an ldaps:// client.
      ...(this.#ldaps ? { tlsOptions: this.#tls } : {}),
      createConnection: refuseAfterOpen(netConnect),
      createSecureConnection: refuseAfterOpen(tlsConnect),
    });
    // Set by `steps`; the cast keeps TypeScript from narrowing it to its first value.
    let phase = 'connect' as OpenPhase;
    const steps = async (): Promise<void> => {
      if (!this.#ldaps && !this.#config.insecurePlaintext) {
        phase = 'starttls';
        await client.startTLS({ ...this.#tls });
      }
      phase = 'bind';
      // ldapts takes the bind password only as a string; it lives for this call alone.
      await this.#config.bindPassword.use((clear) => client.bind(bindDn, clear.toString('utf8')));
    };
    try {
      // StartTLS's handshake has no timeout of its own in ldapts: bound the whole opening.
      await withTimeout(steps(), timeout * 2, `opening ${url}`);
      return Object.assign(state, { client });
    } catch (e) {
      await client.unbind().catch(() => undefined);
      // Without StartTLS the socket is opened by the bind: only an answer is the bind's failure.
      throw new LdapOpenError(phase === 'bind' && !(e instanceof ResultCodeError) ? 'connect' : phase, { cause: e });
    } finally {
      mayConnect = false;
    }
  }
}
