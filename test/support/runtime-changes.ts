import { EVENT, type EventCode } from '../../src/core/events.ts';
import { Secret } from '../../src/core/secret.ts';
import type { Runtime } from '../../src/main.ts';
import { submitChange } from '../../src/sync/submit-change.ts';
import { eventually } from './engine.ts';

/**
 * Changes through a runtime as `pwsync server` opens it, for the tests that sync to a real target
 * (a directory, a database): submit a source's change, then wait for the target's final event.
 * Every password submitted is remembered in `passwords`, for the leak check at the end.
 */
export class RuntimeChanges {
  constructor(
    private readonly runtime: () => Runtime,
    private readonly source: string,
    private readonly target: string,
    readonly passwords: string[] = [],
  ) {}

  /** Submits `login`'s new password at the source; returns the change id. */
  async change(login: string, password: string): Promise<string> {
    this.passwords.push(password);
    const secret = Secret.fromString(password);
    try {
      const receipt = await submitChange(this.runtime().ctx, { sourceSystem: this.source, account: { name: login }, secret, changedAt: Date.now(), origin: 'source', actor: 'test' });
      return receipt.changeId;
    } finally {
      secret.dispose();
    }
  }

  /** The first of `codes` the target system's events show for the change, waiting up to `timeoutMs`. */
  async finalEvent(changeId: string, codes: readonly EventCode[], timeoutMs = 30_000): Promise<EventCode> {
    let code: EventCode | undefined;
    await eventually(async () => {
      const events = await this.runtime().ctx.store.listEvents({ changeId, system: this.target, limit: 100 });
      code = events.find((e) => codes.includes(e.code))?.code;
      return code !== undefined;
    }, timeoutMs, `an event ${codes.join('/')} for ${changeId}`);
    return code ?? EVENT.DELIVERY_FAILED;
  }
}
