import { readFile, stat } from 'node:fs/promises';
import { encryptCompact } from '../crypto/jwe.ts';
import { Agent as Dispatcher, request } from 'undici';
import { isPwsyncError, PwsyncError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import { loadJwePublicKey, type JweKey } from '../pki/jwe-key.ts';
import {
  NOTIFICATIONS_PATH, errorBodySchema, jweBinding, notificationSchema, responseSchema,
  type Notification, type NotificationResult, type RejectReason,
} from '../protocol/notifications.ts';
import type { AgentStore, QueuedCapture, Target } from './queue/index.ts';
import type { Scope } from './scope/types.ts';
import { decideOrRefuse } from './capture/accept.ts';
import { EVENT } from '../core/events.ts';
import { quoteUntrusted } from '../core/untrusted-text.ts';

export interface SenderOptions {
  readonly store: AgentStore;
  readonly scope: Scope | undefined;
  readonly log: Logger;
  readonly now: () => number;
  readonly batchSize: number;
  readonly timeoutMs: number;
}

/** The first retry after a failure comes this soon; each further one waits twice as long, up to the target's retry interval. */
const FIRST_BACKOFF_MS = 1000;
/** With changes queued but no target due, the targets table is read again this often (`agent target enable` takes effect). */
const IDLE_RECHECK_MS = 1000;
/** Pending scope checks asked at most per delivery round; the rest wait for the next round. */
const SCOPE_QUESTIONS_PER_ROUND = 8;
/** An account whose scope could not be checked is asked again after this, doubling up to {@link SCOPE_BACKOFF_MAX_MS}. */
const SCOPE_BACKOFF_FIRST_MS = 1000;
const SCOPE_BACKOFF_MAX_MS = 60_000;
/** Accounts whose next scope question is remembered at most; the oldest are forgotten (and asked at once). */
const SCOPE_BACKOFF_ENTRIES = 10_000;
/** Expired changes are looked for this often. */
const EXPIRE_EVERY_MS = 60_000;

/** A target failed as a whole (unreachable, refused the agent, misconfigured): try the next. */
class TargetFailure extends PwsyncError {
  readonly code = 'ERR_TARGET_UNAVAILABLE';
  override readonly retryable = true;
  override readonly event = EVENT.TARGET_UNAVAILABLE;
}

/** What one delivery round has learnt about scope: accounts whose changes wait, questions asked. */
interface ScopeRound {
  readonly held: Set<string>;
  questions: number;
}

/** One account of one source; without case, so that no spelling of a held account overtakes it. */
function accountKey(item: QueuedCapture): string {
  return `${item.source}\u0000${item.account.toLowerCase()}`;
}

/** A target's answer to one request: a result per notification, or the request refused for what it carries. */
type Answer = { readonly kind: 'results'; readonly results: readonly NotificationResult[] } | { readonly kind: 'refused'; readonly reason: RejectReason; readonly why: string };

/** Connection material of one target, rebuilt when the target or its files change. */
interface Channel {
  readonly fingerprint: string;
  readonly dispatcher: Dispatcher;
  readonly jwe: JweKey;
}

/**
 * Delivers the queue to the targets, oldest change first, in batches: to the first enabled target
 * in failover order that is due, and on failure to the next, with a backoff per target that grows
 * to its retry interval. A change leaves the queue only when a server answered that it is
 * committed (`accepted`, or `duplicate`: committed by an earlier attempt whose answer was lost),
 * or refused it for good (event 7044). Each password is encrypted to the target's JWE key just
 * before sending, bound to every field of its notification (`jweBinding`).
 */
export class Sender {
  readonly #o: SenderOptions;
  readonly #channels = new Map<string, Channel>();
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  #lastExpire = 0;
  /** Accounts whose scope could not be checked: when to ask again, and the wait after that. */
  readonly #unresolved = new Map<string, { readonly at: number; readonly waitMs: number }>();

  constructor(options: SenderOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Something was queued, or a target changed: look now. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.wake();
    await this.#loop;
    await Promise.all([...this.#channels.values()].map((c) => c.dispatcher.close()));
    this.#channels.clear();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let wait: number;
      try {
        wait = await this.#round();
      } catch (e) {
        this.#o.log.error({ err: e }, 'delivery round failed');
        wait = IDLE_RECHECK_MS;
      }
      if (wait > 0 && this.#isRunning()) await this.#sleep(wait);
    }
  }

  /** A method, not the field: the loop must re-read it after every await. */
  #isRunning(): boolean {
    return this.#running;
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
    this.#woken = false;
  }

  /** One batch to one target; returns how long to wait before the next round (0: at once). */
  async #round(): Promise<number> {
    const { store, now } = this.#o;
    const t = now();
    if (t - this.#lastExpire >= EXPIRE_EVERY_MS) {
      this.#lastExpire = t;
      const expired = await store.expire(t);
      if (expired.length > 0) this.#o.log.error({ dropped: expired.length }, 'queued changes reached the queue age limit undelivered and were dropped (event 7041)');
    }
    const batch = await this.#ready();
    if (batch === undefined) return 60_000;
    if (batch.length === 0) return IDLE_RECHECK_MS;

    const targets = (await store.listTargets()).filter((x) => x.enabled);
    if (targets.length === 0) return IDLE_RECHECK_MS;
    const due = targets.filter((x) => (x.state.nextAttemptAt ?? 0) <= t);
    if (due.length === 0) {
      const next = Math.min(...targets.map((x) => x.state.nextAttemptAt ?? t));
      return Math.max(10, Math.min(next - t, IDLE_RECHECK_MS));
    }
    for (const target of due) {
      let answer: Answer;
      try {
        answer = await this.#send(target, batch);
      } catch (e) {
        if (!(e instanceof TargetFailure)) throw e;
        // Nothing of the batch was taken: the next target in failover order gets the same batch.
        await this.#failed(target, e.message, batch);
        continue;
      }
      const settled = await this.#settle(target, batch, answer);
      if (settled.failed !== undefined) {
        // Part of the batch may be delivered: the next round reads the queue again.
        await this.#failed(target, settled.failed, []);
        return 0;
      }
      const ok = await store.recordTargetSuccess(target.name, now());
      if (ok?.recovered) {
        await store.appendEvents([{ code: EVENT.TARGET_AVAILABLE, system: target.name, message: `target "${target.name}" (${target.url}) accepts deliveries again` }]);
        this.#o.log.info({ target: target.name }, 'target available again');
      }
      // A server that asked for some to be sent again gets a moment first.
      return settled.retry > 0 ? IDLE_RECHECK_MS : 0;
    }
    return IDLE_RECHECK_MS;
  }

  /**
   * The next batch to send: the oldest changes whose scope is known to be in, read from the queue
   * window by window until the batch is full or the queue ends; undefined when the queue is empty.
   */
  async #ready(): Promise<QueuedCapture[] | undefined> {
    const { store, batchSize } = this.#o;
    const ready: QueuedCapture[] = [];
    const round: ScopeRound = { held: new Set(), questions: 0 };
    let after = 0;
    let seen = false;
    while (ready.length < batchSize) {
      const window = await store.peek(batchSize, after);
      const last = window.at(-1);
      if (last === undefined) break;
      seen = true;
      after = last.seq;
      ready.push(...(await this.#inScope(window, round)).slice(0, batchSize - ready.length));
    }
    return seen ? ready : undefined;
  }

  /**
   * The changes of `items` whose scope is known to be in: a pending one is checked now. A change
   * whose scope cannot be checked now holds back every later change of the same account (order is
   * what keeps an older password from winning), and only those: other accounts' changes go on. At
   * most {@link SCOPE_QUESTIONS_PER_ROUND} pending accounts are asked per round, and an account
   * that could not be checked is asked again only after a backoff that grows to a minute, so that
   * a directory that is slow or does not answer about some account delays the others' delivery
   * by a bounded amount, and never makes a reconnect per round.
   */
  async #inScope(items: readonly QueuedCapture[], round: ScopeRound): Promise<QueuedCapture[]> {
    const ready: QueuedCapture[] = [];
    const now = this.#o.now();
    for (const item of items) {
      const key = accountKey(item);
      if (round.held.has(key)) continue;
      if (item.scope === 'in' || this.#o.scope === undefined) {
        ready.push(item);
        continue;
      }
      const unresolved = this.#unresolved.get(key);
      if (round.questions >= SCOPE_QUESTIONS_PER_ROUND || (unresolved !== undefined && unresolved.at > now)) {
        round.held.add(key);
        continue;
      }
      round.questions++;
      try {
        const decision = await decideOrRefuse(this.#o.scope, item.account);
        this.#unresolved.delete(key);
        if (!decision.inScope) this.#o.log.info({ id: item.id, account: item.account, reason: decision.reason }, 'queued change out of scope; removed');
        await (decision.inScope ? this.#o.store.setScope(item.id, 'in') : this.#o.store.setScope(item.id, 'out', decision.reason));
        if (decision.inScope) ready.push(item);
      } catch (e) {
        if (!isPwsyncError(e) || !e.retryable) throw e;
        round.held.add(key);
        const waitMs = Math.min(SCOPE_BACKOFF_MAX_MS, unresolved === undefined ? SCOPE_BACKOFF_FIRST_MS : unresolved.waitMs * 2);
        this.#unresolved.delete(key);
        if (this.#unresolved.size >= SCOPE_BACKOFF_ENTRIES) {
          const oldest = this.#unresolved.keys().next();
          if (oldest.done !== true) this.#unresolved.delete(oldest.value);
        }
        this.#unresolved.set(key, { at: this.#o.now() + waitMs, waitMs });
        this.#o.log.warn({ id: item.id, account: item.account, err: e, retryInMs: waitMs }, 'scope still unresolved; this account\'s changes wait, the others go on');
      }
    }
    return ready;
  }

  /**
   * Applies a target's answer to `items`. A request refused as a whole for what it carries (400 or
   * 413: a body the server cannot take, more changes than its `maxBatch`) is narrowed down: the halves are sent
   * apart until the change the server refuses is alone, and that change alone leaves the queue
   * (7044), so that one change no server takes never blocks the others. Answers what is to be sent
   * again, or why the target failed part-way (the next round reads the queue again).
   */
  async #settle(target: Target, items: readonly QueuedCapture[], answer: Answer): Promise<{ retry: number; failed?: string }> {
    if (answer.kind === 'results') {
      const { undecryptable, retry } = await this.#apply(target, items, answer.results);
      return undecryptable === undefined ? { retry } : { retry, failed: `${target.url} cannot decrypt what this agent sends: ${undecryptable} — check the target's --server-key` };
    }
    const [only] = items;
    if (items.length === 1 && only !== undefined) {
      await this.#apply(target, items, [{ id: only.id, status: 'rejected', reason: answer.reason, message: answer.why }]);
      return { retry: 0 };
    }
    this.#o.log.warn({ target: target.name, changes: items.length, why: answer.why }, 'the server refused a batch as a whole; sending it in halves to find the change it refuses');
    const half = Math.ceil(items.length / 2);
    let retry = 0;
    for (const part of [items.slice(0, half), items.slice(half)]) {
      let sub: Answer;
      try {
        sub = await this.#send(target, part);
      } catch (e) {
        if (!(e instanceof TargetFailure)) throw e;
        return { retry, failed: e.message };
      }
      const settled = await this.#settle(target, part, sub);
      retry += settled.retry;
      if (settled.failed !== undefined) return settled;
    }
    return { retry };
  }

  /**
   * Seals and posts `items`; throws {@link TargetFailure} when the target failed as a whole. A
   * notification the protocol's schema refuses is not sent: it is answered here as the server
   * would answer it (`rejected`/`malformed`), so it leaves the queue with its event.
   */
  async #send(target: Target, items: readonly QueuedCapture[]): Promise<Answer> {
    const channel = await this.#channel(target);
    const notifications: Notification[] = [];
    const local = new Map<string, NotificationResult>();
    for (const item of items) {
      const notification = await this.#seal(item, channel.jwe);
      const checked = notificationSchema.safeParse(notification);
      if (checked.success) notifications.push(notification);
      else {
        const issue = checked.error.issues[0];
        local.set(item.id, { id: item.id, status: 'rejected', reason: 'malformed', message: `not sent: the notification schema refuses it (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})` });
      }
    }
    const merged = (answered: readonly NotificationResult[]): Answer => {
      let next = 0;
      return { kind: 'results', results: items.map((item) => local.get(item.id) ?? answered[next++] ?? { id: item.id, status: 'retry' }) };
    };
    if (notifications.length === 0) return merged([]);
    const body = JSON.stringify({ notifications });
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(new URL(NOTIFICATIONS_PATH, target.url), {
        method: 'POST',
        dispatcher: channel.dispatcher,
        headers: { 'content-type': 'application/json' },
        body,
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
      });
    } catch (e) {
      throw new TargetFailure(`cannot reach ${target.url}: ${describeNetworkError(e)}`);
    }
    const text = await response.body.text();
    const status = response.statusCode;
    if (status === 202 || status === 409 || status === 422) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new TargetFailure(`${target.url} answered ${status} with a body that is not JSON`);
      }
      const results = responseSchema.safeParse(parsed);
      if (!results.success || results.data.results.length !== notifications.length) throw new TargetFailure(`${target.url} answered ${status} with a body that is not a notification answer`);
      const mismatch = results.data.results.findIndex((r, i) => r.id !== notifications[i]?.id);
      if (mismatch >= 0) throw new TargetFailure(`${target.url} answered for notification ${quoteUntrusted(results.data.results[mismatch]?.id ?? '?', 40)} where ${notifications[mismatch]?.id ?? '?'} was sent`);
      // The server's words go into this agent's events: quoted, escaped and cut here, where they enter.
      return merged(results.data.results.map((r) => (r.message === undefined ? r : { ...r, message: quoteUntrusted(r.message) })));
    }
    const error = errorBodySchema.safeParse(safeJson(text));
    // The server's words, or whatever answered in its place (a proxy's page): quoted, escaped and cut.
    const why = error.success ? `${error.data.error}: ${quoteUntrusted(error.data.message)}` : quoteUntrusted(text, 200);
    // What the request carries was refused (not who sent it, not the server's state): a change of it is at fault.
    if (status === 400 || status === 413) return { kind: 'refused', reason: 'malformed', why: `HTTP ${status} — ${why}` };
    throw new TargetFailure(`${target.url} refused the delivery (HTTP ${status}) — ${why}`);
  }

  async #seal(item: QueuedCapture, jwe: JweKey): Promise<Notification> {
    const secret = await this.#o.store.openSecret(item);
    try {
      // Every field of the envelope, the times included, is bound into the protected header.
      const envelope = { id: item.id, source: item.source, account: item.account, ...(item.anchor === null ? {} : { anchor: item.anchor }), changedAt: item.changedAt, capturedAt: item.capturedAt };
      const password = secret.useSync((clear) => encryptCompact(clear, jwe, jweBinding(envelope)));
      return { ...envelope, password };
    } finally {
      secret.dispose();
    }
  }

  /** Removes what the server took or refused for good; returns what stays and why. */
  async #apply(target: Target, items: readonly QueuedCapture[], results: readonly NotificationResult[]): Promise<{ undecryptable: string | undefined; retry: number }> {
    const { store, log, now } = this.#o;
    const done: string[] = [];
    const retry: string[] = [];
    const rejected: { item: QueuedCapture; result: NotificationResult }[] = [];
    let undecryptable: NotificationResult | undefined;
    results.forEach((result, i) => {
      const item = items[i];
      if (item === undefined) return; // #send checked that the answer matches the batch
      if (result.status === 'accepted' || result.status === 'duplicate') done.push(item.id);
      else if (result.status === 'rejected' && result.reason === 'undecryptable') {
        undecryptable ??= result;
        retry.push(item.id);
      } else if (result.status === 'rejected') rejected.push({ item, result });
      else retry.push(item.id);
    });
    if (rejected.length > 0) {
      await store.appendEvents(
        rejected.map(({ item, result }) => ({
          code: EVENT.DELIVERY_REJECTED,
          system: item.source,
          anchor: item.account,
          changeId: item.id,
          message: `target "${target.name}" refused the change of ${quoteUntrusted(item.account)} (${result.reason ?? 'rejected'}): ${result.message ?? ''}`,
        })),
      );
      for (const { item, result } of rejected) log.error({ id: item.id, account: item.account, target: target.name, reason: result.reason }, 'change refused by the server; removed from the queue');
    }
    await store.remove([...done, ...rejected.map((r) => r.item.id)]);
    if (retry.length > 0) await store.recordAttempt(retry, { at: now(), error: undecryptable?.message ?? 'the server did not process it; sent again' });
    log.info({ target: target.name, delivered: done.length, rejected: rejected.length, retry: retry.length }, 'batch delivered');
    return { undecryptable: undecryptable === undefined ? undefined : (undecryptable.message ?? 'undecryptable'), retry: retry.length };
  }

  async #failed(target: Target, error: string, batch: readonly QueuedCapture[]): Promise<void> {
    const { store, log, now } = this.#o;
    const t = now();
    const failures = target.state.consecutiveFailures + 1;
    const backoff = Math.min(target.retryIntervalMs, FIRST_BACKOFF_MS * 2 ** Math.min(failures - 1, 20));
    const jittered = Math.round(backoff * (0.9 + Math.random() * 0.2));
    const recorded = await store.recordTargetFailure(target.name, t, error, t + jittered);
    await store.recordAttempt(batch.map((i) => i.id), { at: t, error });
    if (recorded?.firstFailure) {
      await store.appendEvents([{ code: EVENT.TARGET_UNAVAILABLE, system: target.name, message: `target "${target.name}" unavailable: ${error}; ${batch.length} change(s) wait` }]);
    }
    log.warn({ target: target.name, error, retryInMs: jittered, failures }, 'target unavailable');
    const channel = this.#channels.get(target.name);
    if (channel !== undefined) {
      // A server that went away may come back on another address or with a new certificate.
      this.#channels.delete(target.name);
      void channel.dispatcher.close();
    }
  }

  async #channel(target: Target): Promise<Channel> {
    const files = { ca: target.caFile, cert: target.certFile, key: target.keyFile, serverKey: target.serverKeyFile };
    const missing = Object.entries(files).filter(([, f]) => f === null).map(([k]) => k);
    if (missing.length > 0) throw new TargetFailure(`target "${target.name}" has no ${missing.join(', ')} file; add it again with pwsync agent target add`);
    const stamps = await Promise.all(Object.values(files).map(async (f) => `${f}:${(await stat(f ?? '').catch(() => undefined))?.mtimeMs ?? 'missing'}`));
    const fingerprint = `${target.url}|${stamps.join('|')}`;
    const known = this.#channels.get(target.name);
    if (known?.fingerprint === fingerprint) return known;
    if (known !== undefined) void known.dispatcher.close();
    let ca: Buffer, cert: Buffer, key: Buffer, jwe: JweKey;
    try {
      [ca, cert, key] = await Promise.all([readFile(files.ca ?? ''), readFile(files.cert ?? ''), readFile(files.key ?? '')]);
      jwe = await loadJwePublicKey(files.serverKey ?? '');
    } catch (e) {
      throw new TargetFailure(`target "${target.name}": ${e instanceof Error ? e.message : String(e)}`);
    }
    // Only the pinned CA: the system's trust store plays no part in who the server is.
    // The key stays readable: undici reads these options at every new connection.
    const dispatcher = new Dispatcher({ connect: { ca, cert, key, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, keepAliveTimeout: 30_000, connections: 4 });
    const channel = { fingerprint, dispatcher, jwe };
    this.#channels.set(target.name, channel);
    return channel;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeNetworkError(e: unknown): string {
  if (typeof e !== 'object' || e === null) return String(e);
  const code = 'code' in e ? String(e.code) : undefined;
  const message = e instanceof Error ? e.message : 'unknown error';
  const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : '';
  return code ? `${code}: ${message}${cause}` : `${message}${cause}`;
}
