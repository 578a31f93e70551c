/*
 * A process of its own for no-core-dumps.test.ts: protects itself (unless told `unprotected`, with
 * the helper at argv[2] when given), prints the result as one JSON line, then waits until its
 * standard input closes, so the test can read its /proc entries meanwhile.
 */
import { preventCoreDumps } from './no-core-dumps.ts';

const [helper, mode] = process.argv.slice(2);
const result = mode === 'unprotected' ? null : preventCoreDumps(helper === undefined || helper === '' ? {} : { helper });
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
