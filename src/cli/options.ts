import { InvalidInputError } from '../core/errors.ts';

/** The configuration file: --config, then $PWSYNC_CONFIG, then ./pwsync.yaml. */
export function configPath(option: string | undefined): string {
  return option ?? process.env['PWSYNC_CONFIG'] ?? 'pwsync.yaml';
}

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidInputError(`--limit must be a whole number from 1 to 100000, not "${value}"`);
  return n;
}

/** An ISO 8601 time, or a relative one like `15m`, `2h`, `3d` (that long ago). */
export function parseTime(value: string, now = Date.now()): number {
  const rel = /^(\d+)(s|m|h|d)$/.exec(value);
  if (rel?.[1] && rel[2]) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(rel[1]) * unit;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidInputError(`not a time: "${value}" (use ISO 8601 like 2026-11-22T10:00:00Z, or 15m, 2h, 3d)`);
  return t;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter((v) => v !== '')];
}
