/**
 * The check of a password pwsync itself is about to set, before anything is committed
 * (DESIGN.md, "check before committing what pwsync starts"): its form (`core/password-form.ts`),
 * then the configured `password.policy` of every target it would go to. One that fails anywhere
 * goes nowhere, unless the caller asked for partial: then it goes where it fits and each other
 * target is named (7016). `pwsync change` calls it before `submitChange`; the helpdesk and
 * self-service will too. A captured change is never checked here: it is already set at its
 * source, so it goes wherever it fits and each refusal is a delivery's own event (6927).
 *
 * A target may still refuse at write time for rules pwsync cannot see (a history, a policy kept
 * by the server): that refusal is the job's own event (6927), as for a capture.
 */
import { PasswordRefusedError } from '../core/errors.ts';
import { EVENT } from '../core/events.ts';
import type { NewEvent, SystemName } from '../core/model.ts';
import { checkPasswordForm, type FormViolation } from '../core/password-form.ts';
import { checkPasswordPolicy, type PolicyViolation } from '../core/password-policy.ts';
import type { Secret } from '../core/secret.ts';
import { findSystem } from '../config/index.ts';
import type { SystemConfig } from '../config/schema.ts';
import type { SyncContext } from './context.ts';
import { check, type ChangeReceipt, type ChangeRequest } from './submit-change.ts';

/** What {@link checkPasswordFor} found: the form's failures, and each target system's verdict. */
export interface PasswordCheck {
  /** The rules of the password's form it fails; when any, no target's policy is checked. */
  readonly form: readonly FormViolation[];
  /** The target systems whose policy the password fails, with every rule it fails there. */
  readonly refused: readonly { readonly system: SystemName; readonly violations: readonly PolicyViolation[] }[];
  /** The target systems where it fits (no policy configured counts as fitting). */
  readonly fits: readonly SystemName[];
}

/**
 * The password's form, then the policy of each of `targets` (their `password.policy`). No I/O; the
 * secret's bytes are lent for the check only.
 */
export function checkPasswordFor(targets: readonly SystemConfig[], secret: Secret): PasswordCheck {
  return secret.useSync((clear) => {
    const form = checkPasswordForm(clear);
    if (form.length > 0) return { form, refused: [], fits: [] };
    const refused: { system: SystemName; violations: PolicyViolation[] }[] = [];
    const fits: SystemName[] = [];
    for (const system of targets) {
      const policy = system.password.policy;
      const violations = policy === undefined ? [] : checkPasswordPolicy(policy, clear);
      if (violations.length > 0) refused.push({ system: system.name, violations });
      else fits.push(system.name);
    }
    return { form, refused, fits };
  });
}

/**
 * Checks a change pwsync is asked to make against its form and the policy of every system it
 * would be sent to (the person's other accounts in systems with password sync), and returns the
 * request to submit, bound to the systems checked (`sendOnlyTo`).
 *
 * @throws PasswordRefusedError (7015, recorded) when the form fails, or when a target's policy
 *   fails and `partial` is not set, or when the password fits no target at all: nothing else is
 *   committed. A source account the store does not know is checked against every system with
 *   password sync (it may be imported on arrival and linked to any of them); whether the source
 *   has it is left to `submitChange`.
 */
export async function checkChange(ctx: SyncContext, request: ChangeRequest, options: { readonly partial: boolean }): Promise<ChangeRequest> {
  const checked = check(ctx, request, ctx.now());
  const [found] = await ctx.store.lookupSources([checked.lookup]);
  const [account, ...others] = found?.accounts ?? [];
  const person = others.length === 0 ? found?.person : undefined;
  const targets: SystemConfig[] = [];
  const anchors = new Map<SystemName, string[]>();
  if (account === undefined) {
    // An account the store does not know yet may be found at its source and imported on the spot
    // (src/sync/arrivals.ts): whatever it will be linked to, it is checked against every system
    // the change could reach, so that nothing goes out unchecked.
    for (const system of ctx.config.systems) if (system.name !== checked.source.name && system.password.sync) targets.push(system);
  }
  for (const other of person?.accounts ?? []) {
    if (other.system === checked.source.name) continue;
    const system = findSystem(ctx.config, other.system);
    if (!system?.password.sync) continue;
    if (!anchors.has(system.name)) targets.push(system);
    anchors.set(system.name, [...(anchors.get(system.name) ?? []), other.anchor]);
  }
  const verdict = checkPasswordFor(targets, request.secret);
  const refusedAll = verdict.form.length > 0 || (verdict.refused.length > 0 && (!options.partial || verdict.fits.length === 0));
  if (refusedAll) {
    const message = refusalMessage(verdict);
    const base = { system: checked.source.name, ...(account ? { anchor: account.anchor } : {}), ...(person ? { personId: person.id } : {}) };
    const events: NewEvent[] =
      verdict.form.length > 0
        ? [{ code: EVENT.PASSWORD_REFUSED, ...base, message: `${request.origin} change by ${request.actor} refused, nothing committed: ${message}` }]
        : verdict.refused.map((r) => ({
            code: EVENT.PASSWORD_REFUSED,
            ...base,
            system: r.system,
            anchor: (anchors.get(r.system) ?? []).join(', '),
            message: `${request.origin} change by ${request.actor} refused, nothing committed: ${systemClause(r.system, r.violations)}`,
          }));
    await ctx.store.commitChanges([{ events }]);
    const refusals = verdict.form.length > 0 ? [{ rules: verdict.form.map((v) => v.rule) }] : verdict.refused.map((r) => ({ system: r.system, rules: r.violations.map((v) => v.rule) }));
    const hint = verdict.form.length > 0 || options.partial ? '' : '; nothing was committed (with --partial it is sent where it fits)';
    throw new PasswordRefusedError(`${message}${hint}`, refusals);
  }
  const withheld = new Map(verdict.refused.map((r) => [r.system, systemClause(r.system, r.violations)]));
  return { ...request, sendOnlyTo: { systems: new Set(verdict.fits), withheld } };
}

function systemClause(system: SystemName, violations: readonly PolicyViolation[]): string {
  return `the password does not satisfy the policy of system "${system}": ${violations.map((v) => `it ${v.message}`).join('; ')}`;
}

function refusalMessage(verdict: PasswordCheck): string {
  if (verdict.form.length > 0) return `the password ${verdict.form.map((v) => v.message).join(', and ')}: pwsync sets no such password`;
  return verdict.refused.map((r) => systemClause(r.system, r.violations)).join('; ');
}

/**
 * Why a committed change reaches no target, for its caller to say and to exit on; undefined when it
 * reaches one. Each case names what to do.
 */
export function whyNoTarget(receipt: ChangeReceipt, source: SystemName): string | undefined {
  if (receipt.jobs.length > 0) return undefined;
  if (receipt.personId === '') {
    return `the account (anchor ${receipt.sourceAnchor}) in "${source}" is not linked to a person: run "pwsync import ${source}" and check that system's join rules`;
  }
  const parts: string[] = [];
  if (receipt.notEnabled.length > 0) parts.push(`password sync is not enabled on ${listed(receipt.notEnabled.map((t) => `${t.system}/${t.anchor}`))} (6921; set password.sync: true there)`);
  if (receipt.outOfDate.length > 0) parts.push(`a newer change is applied or pending at ${listed(receipt.outOfDate.map((t) => `${t.system}/${t.anchor}`))} (6919; see "pwsync queue --person ${receipt.personId}")`);
  if (receipt.withheld.length > 0) parts.push(`not sent to ${listed(receipt.withheld.map((t) => `${t.system}/${t.anchor}`))} (7016)`);
  if (parts.length === 0) return `person ${receipt.personId} has no account in another system: import the targets ("pwsync import") and check their join rules`;
  return `the change reached no target of person ${receipt.personId}: ${parts.join('; ')}`;
}

function listed(items: readonly string[]): string {
  return items.length <= 5 ? items.join(', ') : `${items.slice(0, 5).join(', ')} and ${items.length - 5} more`;
}
