// Replaces a file as whatever user runs this process (the test runs it as nobody through setpriv)
// and prints the outcome as JSON: through the atomic writer alone (`atomic`), or through the file
// connector (`connector`: its testConnection, then a password set on account u1).
import { basename, dirname } from 'node:path';
import { stat } from 'node:fs/promises';
import { isPwsyncError } from '../../core/errors.ts';
import { replaceFileAtomically } from './atomic.ts';
import { createFileConnector } from './index.ts';
import { fileSystem, setTo } from '../../../test/support/connectors/file.ts';

const [file = '', mode = 'atomic'] = process.argv.slice(2);

function failure(e: unknown): Record<string, unknown> {
  const code = isPwsyncError(e) ? e.code : e instanceof Error && 'code' in e ? String(e.code) : 'unknown';
  return { ok: false, code, retryable: isPwsyncError(e) ? e.retryable : undefined, event: isPwsyncError(e) ? e.event : undefined, message: e instanceof Error ? e.message : '' };
}

let outcome: Record<string, unknown>;
if (mode === 'connector') {
  const connector = createFileConnector(fileSystem(basename(file)), { system: 'csv', baseDir: dirname(file) });
  const tested = await connector.testConnection();
  try {
    await setTo(connector, 'u1', 'New-password-1');
    outcome = { ok: true, tested };
  } catch (e) {
    outcome = { ...failure(e), tested };
  } finally {
    await connector.close();
  }
} else {
  try {
    await replaceFileAtomically(file, Buffer.from('new content\n'), await stat(file, { bigint: true }), () => undefined);
    outcome = { ok: true };
  } catch (e) {
    outcome = failure(e);
  }
}
process.stdout.write(`${JSON.stringify(outcome)}\n`);
