import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread on a TypeScript module of ours.
 *
 * The program runs through tsx without a build step, and a worker does not inherit the loader that
 * tsx registered with `register()` (bin/pwsync.js): the worker registers it itself before it loads
 * the entry. `entry` is the module's URL (`new URL('./x-worker.ts', import.meta.url)`).
 */
export function startTsWorker(entry: URL, workerData: unknown): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
