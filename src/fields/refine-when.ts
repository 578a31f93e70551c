import type { z } from 'zod';

/**
 * For an object's `.superRefine(…, whenValid(keys))`: the check runs whenever the keys it reads
 * passed, whatever else of the object failed (a key of the wrong type elsewhere, an unknown key),
 * so that one validation reports every problem. It never runs on an object that is not one.
 */
export function whenValid(...keys: readonly string[]): { when: (payload: z.core.ParsePayload) => boolean } {
  return {
    when: (payload) =>
      typeof payload.value === 'object' &&
      payload.value !== null &&
      !payload.issues.some((issue) => {
        // An unknown key is the object's own issue (no path) and leaves the known keys as they are.
        if (issue.code === 'unrecognized_keys') return false;
        const first = issue.path?.[0];
        return first === undefined || keys.includes(String(first));
      }),
  };
}
