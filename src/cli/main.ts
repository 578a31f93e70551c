import { CommanderError } from 'commander';
import { isPwsyncError } from '../core/errors.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { buildProgram } from './program.ts';

// `pwsync … | head` closes the pipe early: that is not a failure worth a stack trace.
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
    // A ConfigError's message lists every problem with its file, line and path.
    console.error(`pwsync: ${e.message}`);
  } else if (e instanceof Error) {
    // Unexpected: say what it was without echoing input that might hold a secret.
    console.error(`pwsync: unexpected ${e.name}: ${e.message}`);
  } else {
    console.error('pwsync: unexpected failure');
  }
  return exitCodeFor(e);
}
