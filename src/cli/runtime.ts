import type { Command } from 'commander';
import { openRuntime, type Runtime, type RuntimeOptions } from '../main.ts';
import { configPath } from './options.ts';

/**
 * Opens the runtime for a one-shot command, runs `fn`, and closes it whatever happens. One-shot
 * commands log only warnings and worse (they print their own output).
 */
export async function withRuntime<T>(program: Command, fn: (rt: Runtime) => Promise<T>, options: RuntimeOptions = {}): Promise<T> {
  const rt = await openRuntime(configPath(program.opts<{ config?: string }>().config), { logLevel: 'warn', ...options });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}
