/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and says where the time went: self time by part of
 * the program (our src/ folders, each npm package, Node's internals, the garbage collector, idle)
 * and the busiest functions. Native frames (a SQLite statement, a crypto call, a write) and Node's
 * own JavaScript are counted to the nearest caller in our code or a package, so the SQLite store's
 * time is the store's and jose's WebCrypto calls are jose's; only what no such caller started
 * (socket reads, TLS, the HTTP parser) stays "node:…".
 *
 *   node --import tsx bench/profile.ts FILE.cpuprofile
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round2 } from './lib.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers, in ms. */
  readonly wallMs: number;
  /** Self time by part, ms, largest first; "(idle)" is the thread waiting. */
  readonly byPart: readonly { readonly part: string; readonly ms: number; readonly share: number }[];
  readonly topFunctions: readonly { readonly name: string; readonly part: string; readonly ms: number; readonly share: number }[];
  /**
   * Time with the function on the stack (its callees included), for the functions of
   * {@link FOCUS} that appear. An async function counts only while it runs, not while it awaits.
   */
  readonly inclusive: readonly { readonly name: string; readonly ms: number; readonly share: number }[];
  /** The process's other threads (from {@link summarizeProfileDir}): time not idle. */
  readonly threads?: readonly { readonly thread: number; readonly busyMs: number }[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The steps of a change through the server and the agent whose inclusive time is worth knowing.
 * `commitChanges` and `commitChange` are the store's transaction (src/store/sqlite/jobs.ts).
 */
const FOCUS = [
  'openPassword', 'compactDecrypt', 'submitChanges', 'plan', 'commitChanges', 'commitChange', 'appendEvents', 'claimJobs', 'finishJob', 'deliver',
  'setPassword', 'hashSecret', 'LOG', '#seal', 'encryptJWE', 'accept', 'openSecret', 'enqueueSealed', 'remove',
];

/** The part of the program a script belongs to: `src/store`, `jose`, `node:internal`, … */
function partOf(url: string): string | undefined {
  if (url === '') return undefined;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? 'node_modules');
  }
  if (path.startsWith(ROOT)) {
    const rel = path.slice(ROOT.length).split('/');
    return rel[0] === 'src' && rel.length > 2 ? `src/${rel[1] ?? ''}` : rel.slice(0, 2).join('/');
  }
  if (path.startsWith('node:')) return path.startsWith('node:internal') ? 'node:internal' : path;
  return 'other';
}

export async function summarizeProfile(file: string, top = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const partCache = new Map<number, string>();
  const resolvePart = (id: number): string => {
    const cached = partCache.get(id);
    if (cached !== undefined) return cached;
    const n = byId.get(id);
    const name = n?.callFrame.functionName ?? '';
    const own = ['(garbage collector)', '(idle)', '(program)', '(root)'].includes(name) ? name : partOf(n?.callFrame.url ?? '');
    let part: string;
    if (own !== undefined && !own.startsWith('node:')) part = own;
    else {
      // Node's own code and native calls are counted to the program or package that called them.
      const up = parent.get(id);
      const caller = up === undefined ? '(root)' : resolvePart(up);
      part = caller === '(root)' ? (own ?? '(native)') : caller;
    }
    partCache.set(id, part);
    return part;
  };

  const parts = new Map<string, number>();
  const functions = new Map<string, { part: string; us: number }>();
  let total = 0;
  for (const [id, us] of self) {
    total += us;
    const part = resolvePart(id);
    parts.set(part, (parts.get(part) ?? 0) + us);
    const n = byId.get(id);
    const url = n?.callFrame.url ?? '';
    const where = url === '' ? '' : ` ${url.slice(url.lastIndexOf('/') + 1)}:${(n?.callFrame.lineNumber ?? 0) + 1}`;
    const name = `${n?.callFrame.functionName || '(anonymous)'}${where}`;
    const f = functions.get(name) ?? { part, us: 0 };
    f.us += us;
    functions.set(name, f);
  }
  const inclusive = new Map<string, number>();
  const focus = new Set(FOCUS);
  profile.samples.forEach((id, i) => {
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const name = byId.get(x)?.callFrame.functionName ?? '';
      if (focus.has(name)) seen.add(name);
    }
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const share = (us: number): number => round2((100 * us) / Math.max(1, total));
  return {
    wallMs: round2((profile.endTime - profile.startTime) / 1000),
    byPart: [...parts].sort((a, b) => b[1] - a[1]).map(([part, us]) => ({ part, ms: round2(us / 1000), share: share(us) })),
    topFunctions: [...functions]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([name, f]) => ({ name, part: f.part, ms: round2(f.us / 1000), share: share(f.us) })),
    inclusive: FOCUS.filter((n) => inclusive.has(n)).map((name) => ({ name, ms: round2((inclusive.get(name) ?? 0) / 1000), share: share(inclusive.get(name) ?? 0) })),
  };
}

/**
 * The profiles `--cpu-prof-dir DIR` holds for one process: its main thread's summarised, and for
 * each other thread (a worker: the agent's queue commit thread, tsx's loader) its busy time.
 * Files are named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main one.
 */
export async function summarizeProfileDir(dir: string): Promise<ProfileSummary> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const thread = (f: string): number => Number(f.split('.')[4]);
  const main = files.find((f) => thread(f) === 0);
  if (main === undefined) throw new Error(`no main-thread profile in ${dir}`);
  const threads: { thread: number; busyMs: number }[] = [];
  for (const f of files.filter((x) => x !== main)) {
    const s = await summarizeProfile(join(dir, f), 0);
    const idle = s.byPart.find((p) => p.part === '(idle)')?.ms ?? 0;
    threads.push({ thread: thread(f), busyMs: round2(s.byPart.reduce((a, p) => a + p.ms, 0) - idle) });
  }
  return { ...(await summarizeProfile(join(dir, main))), threads: threads.sort((a, b) => a.thread - b.thread) };
}

export function printProfile(title: string, s: ProfileSummary): void {
  console.log(`  ${title} (${(s.wallMs / 1000).toFixed(1)} s profiled; self time, Node's own and native calls counted to their caller):`);
  for (const p of s.byPart.filter((x) => x.share >= 0.5)) console.log(`    ${p.part.padEnd(24)} ${`${(p.ms / 1000).toFixed(2)} s`.padStart(9)} ${`${p.share}%`.padStart(7)}`);
  for (const t of s.threads ?? []) console.log(`    other thread ${t.thread}: busy ${(t.busyMs / 1000).toFixed(2)} s`);
  console.log(`    on the stack (callees included): ${s.inclusive.map((f) => `${f.name} ${f.share}%`).join(', ')}`);
  console.log('    busiest functions:');
  for (const f of s.topFunctions) console.log(`      ${`${f.share}%`.padStart(6)}  ${f.name} [${f.part}]`);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].slice(process.argv[1].lastIndexOf('/')))) {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: bench/profile.ts FILE.cpuprofile');
  printProfile(file, await summarizeProfile(file, 25));
}
