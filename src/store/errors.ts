// The store's callers catch this one by the store's name; the SQLite toolkit's migration runner
// throws it, for the agent's queue too, so it is defined there.
export { StoreSchemaTooNewError } from '../sqlite/errors.ts';
