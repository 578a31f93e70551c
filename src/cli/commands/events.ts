import type { Command } from 'commander';
import { InvalidInputError } from '../../core/errors.ts';
import { EVENTS, isEventCode, type EventCode, type Severity } from '../../core/events.ts';
import type { PwEvent } from '../../core/model.ts';
import type { EventFilter } from '../../store/port.ts';
import { collect, parseLimit, parseTime } from '../options.ts';
import { iso, printJsonLine, printTable, say } from '../output.ts';
import { withRuntime } from '../runtime.ts';

interface EventOptions {
  code?: string[];
  severity?: string[];
  system?: string;
  person?: string;
  change?: string;
  since?: string;
  limit: number;
  json?: boolean;
  follow?: boolean;
  codes?: boolean;
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('show the event log, newest last (codes 6919-6928 as the reference, 7001+ pwsync\'s own)')
    .option('--code <codes>', 'only these codes (comma-separated, repeatable)', collect)
    .option('--severity <levels>', 'only these severities: info, warning, error', collect)
    .option('--system <name>', 'only events of this system')
    .option('--person <id>', 'only events of this person')
    .option('--change <id>', 'only events of this change')
    .option('--since <time>', 'only events at or after this time (ISO 8601, or 15m, 2h, 3d ago)')
    .option('--limit <n>', 'at most this many (the newest)', parseLimit, 50)
    .option('-f, --follow', 'keep printing new events until interrupted')
    .option('--codes', 'list every event code and its meaning')
    .option('--json', 'print JSON lines')
    .action(async (opts: EventOptions) => {
      if (opts.codes === true) {
        printTable(
          ['CODE', 'SEVERITY', 'NAME', 'MEANING'],
          Object.entries(EVENTS).map(([code, e]) => [code, e.severity, e.name, e.text]),
        );
        return;
      }
      const filter = toFilter(opts);
      await withRuntime(program, async (rt) => {
        let events = await rt.store.listEvents(filter);
        print(events, opts.json === true, true);
        if (opts.follow !== true) return;
        let afterId = events.at(-1)?.id ?? 0;
        let stop = false;
        process.once('SIGINT', () => (stop = true));
        while (!stop) {
          await new Promise((r) => setTimeout(r, 500));
          events = await rt.store.listEvents({ ...filter, afterId, limit: 1000 });
          print(events, opts.json === true, false);
          afterId = events.at(-1)?.id ?? afterId;
        }
      });
    });
}

function toFilter(opts: EventOptions): EventFilter {
  const codes = opts.code?.map((c) => {
    const n = Number(c);
    if (!isEventCode(n)) throw new InvalidInputError(`unknown event code "${c}" (see pwsync events --codes)`);
    return n satisfies EventCode;
  });
  const severities = opts.severity?.map((s) => {
    if (s !== 'info' && s !== 'warning' && s !== 'error') throw new InvalidInputError(`unknown severity "${s}" (info, warning, error)`);
    return s satisfies Severity;
  });
  return {
    limit: opts.limit,
    ...(codes ? { codes } : {}),
    ...(severities ? { severities } : {}),
    ...(opts.system === undefined ? {} : { system: opts.system }),
    ...(opts.person === undefined ? {} : { personId: opts.person }),
    ...(opts.change === undefined ? {} : { changeId: opts.change }),
    ...(opts.since === undefined ? {} : { since: parseTime(opts.since) }),
  };
}

function print(events: readonly PwEvent[], json: boolean, header: boolean): void {
  if (json) {
    for (const e of events) printJsonLine({ ...e, name: EVENTS[e.code].name, time: iso(e.at) });
    return;
  }
  const rows = events.map((e) => [iso(e.at), String(e.code), e.severity, e.system ?? '-', e.anchor ?? '-', e.message]);
  if (header) printTable(['TIME', 'CODE', 'SEVERITY', 'SYSTEM', 'ACCOUNT', 'MESSAGE'], rows, '(no events)');
  else for (const r of rows) say(r.join('  '));
}
