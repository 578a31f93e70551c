import { CommanderError } from 'commander';
import { ScopeConfigError } from '../agent/scope/errors.ts';
import { ConfigError, isPwsyncError } from '../core/errors.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { buildProgram } from './program.ts';
import { sayError } from './output.ts';

// `pwsync … | head` closes the pipe early: that is not a failure worth a stack trace.
// eslint-disable-next-line no-restricted-properties -- error handling of the streams, nothing printed
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

const program = buildProgram();

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // Commander has printed its message already; --help and --version end here too.
    return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (isPwsyncError(e)) {
    // A ConfigError's (and the scope's) message lists every problem a line each, with its file, line
    // and path: printed as those lines. Any other message is one line, whatever it holds.
    const listed = e instanceof ConfigError || e instanceof ScopeConfigError;
    sayError(...(listed ? `pwsync: ${e.message}`.split('\n') : [`pwsync: ${e.message}`]));
  } else if (e instanceof Error) {
    // Unexpected: say what it was without echoing input that might hold a secret.
    sayError(`pwsync: unexpected ${e.name}: ${e.message}`);
  } else {
    sayError('pwsync: unexpected failure');
  }
  return exitCodeFor(e);
}
