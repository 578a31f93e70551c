import { StoreError } from '../core/errors.ts';

/**
 * The database (the server's store, the agent's queue) was written by a newer pwsync: its schema
 * has migrations this program does not know, so reading or writing it could corrupt what the newer
 * program relies on.
 */
export class StoreSchemaTooNewError extends StoreError {
  constructor(
    /** The schema version found in the file. */
    readonly found: number,
    /** The newest schema version this program knows. */
    readonly supported: number,
    options?: ErrorOptions,
  ) {
    super(`the store has schema version ${found}, newer than version ${supported} that this pwsync supports; upgrade pwsync`, options);
  }
}
