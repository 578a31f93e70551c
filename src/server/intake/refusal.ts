import { EVENT } from '../../core/events.ts';
import type { NewEvent } from '../../core/model.ts';
import type { ErrorBody } from '../../protocol/notifications.ts';

/**
 * A request refused as a whole (no notification of it reaches the entry point): its status, the
 * body that says why, and the event it is recorded with, if any (a flood of the same refusal is
 * recorded once per interval, see authenticate.ts).
 */
export interface Refusal {
  readonly status: number;
  readonly body: ErrorBody;
  readonly event: NewEvent | undefined;
}

/** A request refused for what it carries (7006); `who` is `agent "name"`, or `a client` before authentication. */
export function requestRefused(who: string, status: number, error: ErrorBody['error'], message: string): Refusal {
  // A parser's message may repeat a request's keys and values, as many as were sent: cut it for the
  // answer and the log (the event log cuts and escapes its messages itself).
  const said = message.length <= MAX_REFUSAL_CHARS ? message : `${message.slice(0, MAX_REFUSAL_CHARS - 1)}…`;
  return { status, body: { error, message: said }, event: { code: EVENT.CHANGE_REJECTED, message: `notification request from ${who} refused: ${said}` } };
}

/** The longest reason a refusal of a whole request gives, in characters. */
const MAX_REFUSAL_CHARS = 1_000;
