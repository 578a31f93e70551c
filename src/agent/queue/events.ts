import { EventLog } from '../../sqlite/events.ts';

/**
 * The agent's event log: what the agent did with a capture, named by its source, account and id
 * (no person, no job: those are the server's). Pruned by age, or it would grow without end.
 */
export const eventLog = new EventLog(['system', 'anchor', 'changeId'], 'the agent queue');
