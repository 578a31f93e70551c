/** The outcome for one account; `reason` names the group that decided, for the event log. */
export type ScopeDecision = { readonly inScope: true } | { readonly inScope: false; readonly reason: string };

/**
 * Whether captured changes of an account are forwarded. `decide` throws a retryable error
 * (`TransientError`) when the directory cannot be asked; the caller keeps the change queued and asks
 * again later, since neither answer may be guessed.
 */
export interface Scope {
  decide(account: string): Promise<ScopeDecision>;
  /** One line for the log at start: the groups and where they are resolved. */
  describe(): string;
  close(): Promise<void>;
}

export const IN_SCOPE: ScopeDecision = Object.freeze({ inScope: true });

/** A configured group as the directory knows it: its name from the configuration and a key to compare with. */
export interface ResolvedGroup {
  readonly name: string;
  /** What identifies the group in a membership set: a normalized DN, a gid. */
  readonly key: string;
}

/** The rule both directories share: any exclude group decides first; then one include group suffices. */
export function judge(isMember: (group: ResolvedGroup) => boolean, include: readonly ResolvedGroup[], exclude: readonly ResolvedGroup[]): ScopeDecision {
  const excluded = exclude.find(isMember);
  if (excluded !== undefined) return { inScope: false, reason: `member of exclude group "${excluded.name}"` };
  if (include.length === 0 || include.some(isMember)) return IN_SCOPE;
  return { inScope: false, reason: `not a member of any include group (${include.map((g) => g.name).join(', ')})` };
}

/** Lists for `describe()`: `include [a, b], exclude [c]`. */
export function describeLists(include: readonly string[], exclude: readonly string[]): string {
  return `include [${include.join(', ')}], exclude [${exclude.join(', ')}]`;
}
