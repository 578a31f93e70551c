import type { RawConfig } from '../config/schema.ts';
import type { Lookup } from '../store/port.ts';

/**
 * The lookups the engine makes, from the configuration: each source's account by its
 * `source.accountAttribute` (finding the account a change names), persons by every join rule's
 * person attribute (joining), and each system's accounts by its join rules' account attributes
 * (the accounts a person projected on a change's arrival joins: arrivals.ts). The store keeps keys
 * for these and nothing else.
 */
export function lookupsFor(config: Pick<RawConfig, 'systems'>): Lookup[] {
  const out = new Map<string, Lookup>();
  const add = (l: Lookup): void => {
    out.set(JSON.stringify([l.scope === 'account' ? l.system : null, l.attribute, l.mode]), l);
  };
  for (const system of config.systems) {
    if (system.source) add({ scope: 'account', system: system.name, attribute: system.source.accountAttribute, mode: system.source.match });
    for (const rule of system.join) {
      add({ scope: 'person', attribute: rule.person, mode: rule.match });
      add({ scope: 'account', system: system.name, attribute: rule.account, mode: rule.match });
    }
  }
  return [...out.values()];
}
