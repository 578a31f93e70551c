import { z } from 'zod';

/**
 * A name, DN, host or path as an operator types it: not empty, no spaces at either end and no
 * control characters, which would never match what the other system holds and are hard to see in
 * a configuration file.
 */
export const nonBlank = z
  .string()
  .refine((s) => s.trim() === s && s !== '', 'must not be empty or begin or end with spaces')
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');
