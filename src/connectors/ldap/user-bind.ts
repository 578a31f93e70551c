import { InvalidCredentialsError, ResultCodeError, type Client } from 'ldapts';
import { isUtf8Password } from '../../core/password-text.ts';
import type { Secret } from '../../core/secret.ts';
import type { Logger } from '../../log/logger.ts';
import { openClient, type LdapEndpoint, type Session } from '../../ldap-client/connection.ts';
import type { TlsSettings } from '../../ldap-client/tls.ts';

/*
 * Binding as a person: to verify a password, to skip a write that is already true, and to make a
 * person's own change. Never on the service connections (a bind changes a connection's identity).
 */

/**
 * Checks passwords by binding, one bind at a time on a connection of its own that is kept open
 * (a TLS handshake per check would cost more than the bind). A bind with an empty password is an
 * unauthenticated bind (RFC 4513 §5.1.2) that many servers accept: it is never sent.
 */
export class BindChecker {
  #session: Session | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly endpoint: LdapEndpoint,
    private readonly tls: TlsSettings,
    private readonly log: Logger,
  ) {}

  /** Whether `dn` binds with `secret`. Throws what is not an answer about the password. */
  check(dn: string, secret: Secret): Promise<boolean> {
    const run = this.#queue.then(() => this.#check(dn, secret));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    await this.#session?.client.unbind().catch(() => undefined);
    this.#session = undefined;
  }

  async #check(dn: string, secret: Secret): Promise<boolean> {
    if (secret.length === 0) return false;
    // ldapts binds with text only: a password that is not UTF-8 cannot be checked by a bind, and a
    // bind with its U+FFFD form would test another password. "Not known to work": the write goes on.
    if (!secret.useSync(isUtf8Password)) return false;
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw new Error('the bind checker is closed');
      const fresh = this.#session === undefined || this.#session.lost;
      if (fresh) this.#session = await openClient(this.endpoint, this.tls, 'anonymous');
      const session = this.#session;
      if (session === undefined) continue;
      try {
        await secret.use((clear) => session.client.bind(dn, clear.toString('utf8')));
        return true;
      } catch (e) {
        if (e instanceof InvalidCredentialsError) return false;
        // Another answer from the server (busy, unwilling): the connection itself is fine.
        if (e instanceof ResultCodeError) throw e;
        session.lost = true;
        this.#session = undefined;
        void session.client.unbind().catch(() => undefined);
        if (fresh || attempt > 1) throw e;
        this.log.warn({ err: e, url: this.endpoint.url }, 'bind-check connection lost; reconnecting');
      }
    }
  }
}

/**
 * Opens a connection bound as `dn` with `secret`, runs `fn` on it and closes it. A wrong password
 * rejects with ldapts' InvalidCredentialsError (wrapped in LdapOpenError, phase `bind`).
 */
export async function asUser<T>(endpoint: LdapEndpoint, tls: TlsSettings, dn: string, secret: Secret, fn: (client: Client) => Promise<T>): Promise<T> {
  const session = await openClient(endpoint, tls, { dn, password: secret });
  try {
    return await fn(session.client);
  } finally {
    await session.client.unbind().catch(() => undefined);
  }
}
