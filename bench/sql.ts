/**
 * The sql connector against a private database (issue 5): importing a million rows, and password
 * sets per second through pwsync beside the same UPDATEs done directly in a loop.
 *
 *   node --import tsx bench/sql.ts [--dialect postgres|mariadb] [--phases import,sets] [--rows 1000000]
 *        [--import-timeout DURATION] [--hash '{SSHA512},argon2id,bcrypt=100'] [--users 2000] [--kdf-users 1000]
 *        [--concurrency 32] [--clients 2] [--workers 32] [--connections 2] [--durability durable|test]
 *        [--batch 500] [--sample 20]
 *        [--seed 1] [--profile] [--breakdown] [--json FILE] [--keep]
 *
 * The database is the sql connector's test database (`startSqlWorld`), a private server this
 * benchmark starts: TLS required, the table `app_users` (serial id, unique login, e-mail, password
 * hash, a trigger that sets `updated_at` on every update) and a service account that may read it
 * and update the hash. `--rows` rows are made on the server (`INSERT … SELECT` over
 * `generate_series`, as the superuser; ids 1…rows, logins `u0000001`…), then `VACUUM ANALYZE`d.
 * (`--dialect mariadb` uses MariaDB's `seq_1_to_N` and mysql2 for the direct loop.)
 *
 * **import**: a configuration with a file source of the same logins (`hr`) and the table (`app`,
 * the connector's test import query, joined on login; `sql.timeout` at its default unless
 * `--import-timeout` says otherwise: before f8c6c49 it also bounded the whole read). A child process
 * imports the source (as `pwsync import hr` would), so that this process holds only its own; then
 * this process opens the runtime as `pwsync import` does (the store on the caller's thread) and
 * times `importSystem(ctx, 'app')`: wall time, rows/s, joined (must equal `--rows`), and the RSS,
 * sampled every 100 ms during the import (with the kernel's high-water mark as a check), beside
 * what the process held just before it.
 *
 * **sets**, for each format of `--hash` (`--users` users for the salted digests, `--kdf-users`
 * for the key-derivation functions, whose hash dominates, `format=N` N users), on the rows with ids 1…users, after one
 * direct set per user as a warm-up (not counted):
 *
 * - **direct, sequential**: one driver client (TLS verified, as the service account, connected
 *   before the clock); per user the password hashed with the core's `hashSecret`, then
 *   `UPDATE app_users SET password_hash = $1 WHERE id = $2` (autocommit), one after the other —
 *   a script's loop. Again in a transaction (BEGIN, UPDATE, COMMIT), as the connector writes.
 * - **direct, concurrent**: `--concurrency` users in flight on `--clients` clients (for reference).
 * - **connector**: `SqlConnector.setPassword(id, …)` alone, sequential and `--concurrency` in flight.
 * - **engine**: its own configuration (a file source of the users, the table joined on login,
 *   `password.hash` the format, `log.level: info` to a file), imported in a runtime of its own;
 *   then `openRuntime` as `pwsync server` opens it (delivery workers, the store on its thread) and
 *   one change per user through `submitChanges` in batches of `--batch`, timed from the first
 *   submit until the store says every job is done. Round 1 is the first change of each account
 *   since the runtime opened (cold); round 2 the same again on the same runtime (steady state).
 * - the direct phases again at the end; the ratios use the mean of the two.
 *
 * After each phase, `--sample` users picked at random must have a stored hash that verifies
 * (`verifySecret`) with the password that phase set, and every set must have succeeded; a phase
 * that set nothing fails the run. CPU time of this process (every thread, and its main thread)
 * and of the database server (the server process and its children) is read for each phase.
 * `--profile` profiles the main thread during every timed phase (node:inspector; it slows them).
 * `--breakdown` times every store call of the import and the engine phases.
 *
 * The parts are in bench/sql/: plan.ts (options, targets), table.ts, config.ts, measure.ts (CPU,
 * a phase's figures), import.ts, sets.ts and direct-client.ts (the direct loop's connection).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startSqlWorld } from '../test/support/connectors/sql.ts';
import { describeMachine, printMachine, writeJson } from './lib.ts';
import { PASSWORD_ENV } from './sql/config.ts';
import { importPhase, sourceImport, type ImportResult } from './sql/import.ts';
import type { Bench } from './sql/measure.ts';
import { durabilitySettings, parsePlan, readArgs, TARGET_IMPORT_SECONDS, TARGET_RATIO, TARGET_RSS_MB, type Args } from './sql/plan.ts';
import { setsFor, type HashRun } from './sql/sets.ts';
import { fillTable } from './sql/table.ts';

async function main(args: Args): Promise<void> {
  const plan = parsePlan(args);
  const root = await mkdtemp(join(tmpdir(), 'pwsync-bench-sql-'));
  const machine = describeMachine(root);
  printMachine(machine);
  const what = [plan.import ? `import of ${plan.rows.toLocaleString('en')} rows` : '', plan.sets ? `password sets (${plan.hashes.join(', ')}), ${plan.concurrency} in flight where concurrent, ${plan.clients} direct clients, server.workers ${plan.workers}, sql.connections ${plan.connections}, batches of ${plan.batch}` : ''];
  console.log(`measured on this machine. sql (${plan.dialect}): ${what.filter((s) => s !== '').join('; ')}`);
  let imported: ImportResult | undefined;
  let importError: string | undefined;
  const runs: HashRun[] = [];
  let serverVersion = 'unknown';
  const t = performance.now();
  const world = await startSqlWorld(plan.dialect, durabilitySettings(plan.dialect, plan.durability));
  process.env[PASSWORD_ENV] = world.servicePassword;
  const bench: Bench = { world, root, plan, profile: args.profile, breakdown: args.breakdown };
  try {
    const [v] = await world.exec('SELECT version() AS v');
    const version = v?.['v'];
    if (typeof version === 'string') serverVersion = (version.split(' on ')[0] ?? version).split(',')[0] ?? version;
    const [flush] = await world.exec(
      plan.dialect === 'postgres'
        ? "SELECT 'fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') AS f"
        : "SELECT CONCAT('innodb_flush_log_at_trx_commit=', @@innodb_flush_log_at_trx_commit) AS f",
    );
    console.log(`  ${serverVersion} started (TLS required; ${plan.durability}: ${String(flush?.['f'])}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const rows = plan.import ? plan.rows : Math.max(plan.users, plan.kdfUsers, ...plan.userCounts.values());
    console.log(`  filling app_users with ${rows.toLocaleString('en')} rows on the server (INSERT … SELECT, then VACUUM ANALYZE)…`);
    const fillMs = await fillTable(world, rows);
    console.log(`  ${rows.toLocaleString('en')} rows in ${(fillMs / 1000).toFixed(1)} s`);
    if (plan.import) {
      try {
        imported = await importPhase(bench);
      } catch (e) {
        importError = e instanceof Error ? `${'code' in e ? `${String(e.code)}: ` : ''}${e.message}` : String(e);
        console.log(`  IMPORT FAILED: ${importError}`);
      }
    }
    if (plan.sets) for (const format of plan.hashes) runs.push(await setsFor(bench, format));
  } finally {
    await world.stop();
    Reflect.deleteProperty(process.env, PASSWORD_ENV);
    if (args.keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }

  const code = `${machine.source.commit}${machine.source.changed.length > 0 ? ' + uncommitted changes' : ''}`;
  console.log(`\nsql summary (${serverVersion}, TLS, durability ${plan.durability}; measured on this machine: ${machine.cores} cores ${machine.cpuModel}, Node ${machine.node}, commit ${code}):`);
  if (imported) {
    const i = imported;
    console.log(`  import of ${i.rows.toLocaleString('en')} rows, joined: ${(i.wallMs / 1000).toFixed(2)} s, ${i.rowsPerSecond.toLocaleString('en')} rows/s, ${i.report.joined.toLocaleString('en')} joined — target < ${TARGET_IMPORT_SECONDS} s: ${i.met.time ? 'met' : 'MISSED'}`);
    console.log(`  peak RSS during the import ${i.peakRssMiB} MiB (${i.rssBeforeMiB} MiB before it) — target < ${TARGET_RSS_MB} MB: ${i.met.rss ? 'met' : 'MISSED'}`);
  }
  for (const r of runs) {
    console.log(`  ${r.hash}, ${r.users.toLocaleString('en')} users:`);
    console.log(`    ${'phase'.padEnd(30)} ${'sets/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU ms/set'.padStart(11)} ${'main ms/set'.padStart(12)} ${'db ms/set'.padStart(10)} ${'verified'.padStart(9)}`);
    for (const p of r.phases) {
      console.log(`    ${p.name.slice(r.hash.length + 1).padEnd(30)} ${p.perSecond.toLocaleString('en').padStart(9)} ${String(p.latency.p50).padStart(8)} ${String(p.latency.p99).padStart(8)} ${String(p.cpu.processMsPerSet).padStart(11)} ${String(p.cpu.mainThreadMsPerSet).padStart(12)} ${String(p.cpu.databaseMsPerSet).padStart(10)} ${`${p.verified}/${p.sampled}`.padStart(9)}`);
    }
    console.log(`    direct, mean of before and after: sequential ${r.direct.sequential}/s, ${plan.concurrency} in flight ${r.direct.concurrent}/s`);
    console.log(`    pwsync round 1 (cold) / direct sequential: ${r.ratios['round1VsDirectSequential']} — target ≥ ${TARGET_RATIO}: ${r.met.round1 ? 'met' : 'MISSED'}`);
    console.log(`    pwsync round 2 (steady) / direct sequential: ${r.ratios['round2VsDirectSequential']} — target ≥ ${TARGET_RATIO}: ${r.met.round2 ? 'met' : 'MISSED'}`);
    console.log(`    pwsync round 1 / round 2 against direct ${plan.concurrency} in flight: ${r.ratios['round1VsDirectConcurrent']} / ${r.ratios['round2VsDirectConcurrent']}`);
    console.log(`    direct in a transaction (BEGIN, UPDATE, COMMIT) / direct autocommit, sequential: ${r.ratios['directTransactionVsDirectSequential']}`);
    console.log(`    connector alone / direct: sequential ${r.ratios['connectorSequentialVsDirectSequential']}, ${plan.concurrency} in flight ${r.ratios['connectorConcurrentVsDirectConcurrent']}; pwsync round 2 / connector ${plan.concurrency} in flight: ${r.ratios['round2VsConnectorConcurrent']}`);
  }
  if (importError !== undefined) console.log(`  import of ${plan.rows.toLocaleString('en')} rows: FAILED (${importError})`);
  const checksPassed = importError === undefined && (imported?.checksPassed ?? true) && runs.every((r) => r.checksPassed) && (plan.import || runs.length > 0);
  if (!checksPassed) {
    console.log('  CHECK FAILED: a wrong import count, a set that failed or was not done, or a sampled hash that does not verify');
    process.exitCode = 1;
  }
  if (args.json !== undefined) {
    await writeJson(args.json, {
      benchmark: 'sql',
      machine,
      server: serverVersion,
      durability: plan.durability,
      plan,
      ...(imported ? { import: imported } : {}),
      ...(importError === undefined ? {} : { importError }),
      sets: runs,
      targets: { importSeconds: TARGET_IMPORT_SECONDS, rssMB: TARGET_RSS_MB, ratio: TARGET_RATIO },
      checksPassed,
    });
  }
}

const args = readArgs();
if (args['source-import'] !== undefined) await sourceImport(args['source-import']);
else await main(args);
