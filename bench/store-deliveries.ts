/**
 * The store's share of a delivery, on the SQLite store directly (no thread, no connector): N
 * changes, one target account each, committed in batches of `--batch` (as the intake does), then
 * delivered by `--workers` simulated workers, `--group` of them finishing their job and claiming the
 * next in one `finishAndClaim` (the delivery loop records every outcome waiting in one call; in the
 * LDAP benchmark about 3 a call). `--ids v4|v7` makes the change ids random or time-ordered (the
 * server makes v7 ones). Prints the machine and one JSON line: µs of wall time per change for the
 * intake and the delivery, the calls, the KiB this process wrote per change (the WAL, checkpoints
 * into the database), and CPU per change. Measured on the machine it runs on; a development
 * benchmark, not part of `npm run bench`.
 *
 *   node --import tsx bench/store-deliveries.ts [--changes 4000] [--accounts 4000] [--batch 500]
 *        [--workers 32] [--group 3] [--ids v7]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { v7 as uuidv7 } from 'uuid';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import type { CommitUnit, FinishedJob } from '../src/store/port.ts';
import { describeMachine, intOption, printMachine } from './lib.ts';
import { EVENT } from '../src/core/events.ts';

const { values: args } = parseArgs({
  options: {
    changes: { type: 'string', default: '4000' },
    accounts: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '500' },
    workers: { type: 'string', default: '32' },
    group: { type: 'string', default: '3' },
    ids: { type: 'string', default: 'v7' },
  },
});
const plan = {
  changes: intOption('changes', args.changes, 1),
  accounts: intOption('accounts', args.accounts, 1),
  batch: intOption('batch', args.batch, 1),
  workers: intOption('workers', args.workers, 1),
  group: intOption('group', args.group, 1),
  ids: args.ids,
};
if (plan.ids !== 'v4' && plan.ids !== 'v7') throw new Error('--ids must be v4 or v7');

async function written(): Promise<number> {
  const io = await readFile('/proc/self/io', 'utf8');
  return Number(/write_bytes: (\d+)/.exec(io)?.[1] ?? 0);
}

const dir = await mkdtemp(join(tmpdir(), 'pwsync-bench-store-'));
printMachine(describeMachine(dir));
try {
  const store = await openSqliteStore(join(dir, 'store.db'));
  const src = await store.upsertAccounts('hr', 'seed', Array.from({ length: plan.accounts }, (_, i) => ({ anchor: `s${i}`, attributes: { login: `u${i}` } })));
  const dst = await store.upsertAccounts('dir', 'seed', Array.from({ length: plan.accounts }, (_, i) => ({ anchor: `d${i}`, attributes: { login: `u${i}` } })));
  const blob = randomBytes(120);
  const units: CommitUnit[] = Array.from({ length: plan.changes }, (_, i) => {
    const target = dst[i % plan.accounts];
    const source = src[i % plan.accounts];
    if (target === undefined || source === undefined) throw new Error('no account');
    const personId = `p${i % plan.accounts}`;
    const id = plan.ids === 'v7' ? uuidv7() : randomUUID();
    const at = Date.now();
    return {
      change: {
        change: { id, sourceSystem: 'hr', sourceAnchor: source.anchor, personId, changedAt: at, receivedAt: at, origin: 'source', actor: 'bench' },
        secret: { keyId: 'k1', blob },
        targets: [{ accountId: target.id }],
      },
      events: [{ code: EVENT.CHANGE_ACCEPTED, system: 'hr', anchor: source.anchor, personId, changeId: id, message: 'change received from hr; 1 target' }],
    };
  });

  const cpu0 = process.cpuUsage();
  const w0 = await written();
  const t0 = performance.now();
  for (let i = 0; i < units.length; i += plan.batch) await store.commitChanges(units.slice(i, i + plan.batch));
  const t1 = performance.now();
  const w1 = await written();

  // W workers in turn: each finishes the job it holds and claims the next one in one call.
  const held = new Map<number, number>();
  let done = 0;
  let calls = 0;
  for (;;) {
    let claimedAny = false;
    for (let w = 0; w < plan.workers; w += plan.group) {
      const lanes = Array.from({ length: Math.min(plan.group, plan.workers - w) }, (_, k) => w + k);
      const finished: FinishedJob[] = [];
      for (const lane of lanes) {
        const jobId = held.get(lane);
        if (jobId !== undefined) finished.push({ jobId, outcome: { kind: 'done', at: Date.now() }, event: { code: EVENT.PASSWORD_SET, message: 'password set (attempt 1, 1 ms)' } });
      }
      const r = await store.finishAndClaim(finished, `w${w}`, Date.now(), lanes.length);
      calls++;
      done += finished.length;
      for (const [k, lane] of lanes.entries()) {
        const next = r.claimed[k];
        if (next === undefined) held.delete(lane);
        else {
          held.set(lane, next.id);
          claimedAny = true;
        }
      }
    }
    if (!claimedAny && held.size === 0) break;
  }
  const t2 = performance.now();
  const w2 = await written();
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  const per = (ms: number): number => Math.round((ms * 1000) / plan.changes);
  console.log(JSON.stringify({
    plan,
    done,
    intakeUsPerChange: per(t1 - t0),
    deliveryUsPerChange: per(t2 - t1),
    finishAndClaimCalls: calls,
    intakeKiBPerChange: Math.round((w1 - w0) / 1024 / plan.changes * 10) / 10,
    deliveryKiBPerChange: Math.round((w2 - w1) / 1024 / plan.changes * 10) / 10,
    cpuUserUsPerChange: Math.round(cpu.user / plan.changes),
    cpuSystemUsPerChange: Math.round(cpu.system / plan.changes),
  }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
