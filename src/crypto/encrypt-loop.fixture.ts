// Encrypts to one key `n` times in a row (argv[2]) and prints "done": the agent's sender does this
// for every queued change. jwe.test.ts runs it in a process of its own, so that a deadlock (see
// encryptCompact) is a failed test rather than a suite that never ends.
import { generateKeyPairSync } from 'node:crypto';
import { encryptCompact } from './jwe.ts';

const n = Number(process.argv[2]);
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const recipient = { kid: 'loop', key: publicKey };
const password = Buffer.from('Loop-Passw0rd');
for (let i = 0; i < n; i++) encryptCompact(password, recipient, { id: String(i) });
process.stdout.write('done\n');
