// A process of its own for memory.test.ts: hashes one password (hex on standard input, so that its
// bytes exist only where pwsync puts them) in the format named by argv[2], then stays alive.
import { Secret } from '../../core/secret.ts';
import { hashSecret } from './index.ts';
import { hashSpecSchema } from './spec.ts';

let hex = '';
process.stdin.setEncoding('latin1');
for await (const chunk of process.stdin) hex += String(chunk);
const bytes = Buffer.from(new ArrayBuffer(hex.trim().length / 2));
bytes.write(hex.trim(), 'hex');
const secret = Secret.adopt(bytes);
try {
  await hashSecret(hashSpecSchema.parse(process.argv[2]), secret);
} finally {
  secret.dispose();
}
if (process.argv[3] === 'settle') {
  // Node's own asynchronous KDF jobs (pbkdf2, scrypt) copy the password and free the copy, wiped by
  // OpenSSL, only when the collector frees the finished job: short-lived garbage, as any busy
  // process makes, runs the collector.
  let keep: unknown[] = [];
  for (let i = 0; i < 400_000; i++) {
    keep.push({ i, s: `garbage-${i}` });
    if (keep.length > 1000) keep = [];
  }
  await new Promise((r) => setTimeout(r, 100));
}
process.stdout.write('hashed\n');
setInterval(() => undefined, 60_000);
