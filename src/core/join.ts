import type { MatchMode } from './model.ts';

/**
 * The key under which a value is compared for a match mode. Two values match under a mode when
 * their keys are equal, so the store can index keys and never needs to know the rules.
 *
 * - exact: the value itself.
 * - caseInsensitive: Unicode case folding of the NFC form (`Ä` and `ä` match, `ä` and `a` do not).
 * - normalized: compatibility decomposition with marks removed, case folded, whitespace, dots,
 *   hyphens and underscores dropped (`Zoë-Ann Smith` and `zoeann.smith` match).
 */
export function matchKey(value: string, mode: MatchMode): string {
  switch (mode) {
    case 'exact':
      return value;
    case 'caseInsensitive':
      return value.normalize('NFC').toLowerCase();
    case 'normalized':
      return value
        .normalize('NFKD')
        .replace(/\p{M}/gu, '')
        .toLowerCase()
        .replace(/[\s._-]+/gu, '')
        .normalize('NFC');
  }
}

export const MATCH_MODES: readonly MatchMode[] = ['exact', 'caseInsensitive', 'normalized'];
