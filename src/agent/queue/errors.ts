import { PwsyncError } from '../../core/errors.ts';
import { EVENT } from '../../core/events.ts';

/**
 * The queue holds its length limit: the capture was not queued (event 7042). Retrying at once will
 * not help; the hook should report the failure so that the change is not silently lost.
 */
export class QueueFullError extends PwsyncError {
  readonly code = 'ERR_QUEUE_FULL';
  override readonly event = EVENT.QUEUE_FULL;

  constructor(
    /** The length limit in force. */
    readonly limit: number,
    options?: ErrorOptions,
  ) {
    super(`the agent queue holds its limit of ${limit} changes; the change was not queued`, options);
  }
}

/** A target of that name exists already (names identify targets on the command line). */
export class TargetExistsError extends PwsyncError {
  readonly code = 'ERR_TARGET_EXISTS';

  constructor(
    readonly target: string,
    options?: ErrorOptions,
  ) {
    super(`an agent target named "${target}" exists already`, options);
  }
}

/** No target of that name. */
export class TargetNotFoundError extends PwsyncError {
  readonly code = 'ERR_TARGET_NOT_FOUND';

  constructor(
    readonly target: string,
    options?: ErrorOptions,
  ) {
    super(`there is no agent target named "${target}"`, options);
  }
}

/** The queued capture is gone: delivered, expired or removed from scope since it was peeked. */
export class CaptureNotFoundError extends PwsyncError {
  readonly code = 'ERR_CAPTURE_NOT_FOUND';

  constructor(
    readonly captureId: string,
    options?: ErrorOptions,
  ) {
    super(`captured change ${captureId} is no longer queued`, options);
  }
}
