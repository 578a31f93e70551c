import { relative } from 'node:path';
import type { Command } from 'commander';
import { importSystem } from '../../sync/importer.ts';
import { startServer } from '../../main.ts';
import { withRuntime } from '../runtime.ts';
import { writeDemo } from '../demo-files.ts';
import { initDataDirectory } from '../setup.ts';
import { untilSignal } from './server.ts';
import { projectsPersons } from '../../config/schema.ts';
import { say } from '../output.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the main job on its embedded default: create a demo setup on first run, import it, and run the server')
    .option('--dir <dir>', 'where the demo lives', 'demo')
    .action(async (opts: { dir: string }) => {
      const file = await writeDemo(opts.dir);
      const init = await initDataDirectory(file);
      program.setOptionValue('config', file);
      await withRuntime(program, async (rt) => {
        const ordered = [...rt.config.systems].sort((a, b) => Number(projectsPersons(b)) - Number(projectsPersons(a)));
        for (const system of ordered) {
          const r = await importSystem(rt.ctx, system.name);
          say(`imported ${system.name}: ${r.read} accounts, ${r.projected} projected, ${r.joined} joined, ${r.unmatched} unmatched`);
        }
      });
      const server = await startServer(file);
      const rel = relative(process.cwd(), file) || file;
      const dir = relative(process.cwd(), init.config.baseDir) || '.';
      const tries: [string, string][] = [
        [`./bin/pwsync.js change alice --config ${rel}`, "set Alice's password everywhere (prompts twice)"],
        [`cat ${dir}/targets/webapp.csv ${dir}/targets/legacy.tsv`, 'see the new argon2id and SHA-512-crypt hashes'],
        [`./bin/pwsync.js events --config ${rel}`, 'the event log (7002 = password set)'],
        [`./bin/pwsync.js queue --config ${rel}`, 'every delivery job and its state'],
        [`./bin/pwsync.js persons zoe --config ${rel}`, 'a person with every account and link'],
      ];
      const width = Math.max(...tries.map(([command]) => command.length));
      say('', `pwsync is running on the demo in ${dir}/ (store ${relative(process.cwd(), init.config.storePath)}).`);
      say('In another terminal, try:');
      for (const [command, what] of tries) say(`  ${command.padEnd(width)}   ${what}`);
      say('Stop with Ctrl-C.');
      await untilSignal(server);
    });
}
