import type { Command } from 'commander';
import { PersonLookupError } from '../../core/errors.ts';
import type { PersonView } from '../../store/port.ts';
import { iso, printJson, printTable, say } from '../output.ts';
import { parseLimit } from '../options.ts';
import { withRuntime } from '../runtime.ts';

export function registerPersons(program: Command): void {
  program
    .command('persons')
    .description('show persons with every account and link; QUERY matches a person id or any attribute of the person or its accounts')
    .argument('[query]', 'text to look for (case-insensitive substring)')
    .option('--limit <n>', 'at most this many persons', parseLimit, 20)
    .option('--json', 'print as JSON')
    .action(async (query: string | undefined, opts: { limit: number; json?: boolean }) => {
      await withRuntime(program, async (rt) => {
        const persons = await rt.store.searchPersons({ ...(query === undefined ? {} : { text: query }), limit: opts.limit });
        if (opts.json === true) {
          printJson(persons);
          return;
        }
        if (persons.length === 0) {
          if (query !== undefined) throw new PersonLookupError(`no person matches "${query}"`);
          say('no persons yet: run "pwsync import"');
          return;
        }
        persons.forEach((p, i) => {
          if (i > 0) say('');
          printPerson(p);
        });
      });
    });
}

function printPerson(p: PersonView): void {
  say(`person ${p.id}  (since ${iso(p.createdAt)})`);
  for (const [k, v] of Object.entries(p.attributes)) say(`  ${k}: ${v}`);
  printTable(
    ['  SYSTEM', 'ANCHOR', 'LINK', 'LAST PASSWORD APPLIED', 'ATTRIBUTES'],
    p.accounts.map((a) => [
      `  ${a.system}`,
      a.anchor,
      a.link.reason.kind === 'join' ? `join rule ${a.link.reason.rule + 1}` : a.link.reason.kind,
      iso(a.lastAppliedAt),
      Object.entries(a.attributes)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ]),
    '  (no accounts)',
  );
}
