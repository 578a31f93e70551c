import { z } from 'zod';

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `250ms`, `60s`, `5m`, `1h`, `3d`, or a bare number of seconds; parsed to milliseconds. */
export const durationSchema = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v * 1000);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(v);
  if (!m?.[1] || !m[2]) {
    ctx.addIssue({ code: 'custom', message: 'not a duration (use e.g. 250ms, 60s, 5m, 1h, 3d)' });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]);
});

/**
 * A duration between `min` and `max` milliseconds, both included: a poll interval of 0 turns an
 * idle loop into a busy one, and a timeout of a year is a typo.
 */
export function durationBetween(min: number, max: number) {
  return durationSchema.refine((ms) => ms >= min && ms <= max, `must be between ${formatDuration(min)} and ${formatDuration(max)}`);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
