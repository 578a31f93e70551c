import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { z } from 'zod';
import { durationSchema } from '../../fields/duration.ts';

/** Where `make -C native` (run by `npm test` and the install steps) puts the hook. */
export const DEFAULT_SAMBA_HOOK = fileURLToPath(new URL('../../../native/build/pwsync-samba-hook', import.meta.url));

/** samba-tool with a wait for changes that does not depend on Samba's process model (see the file). */
export const DEFAULT_SYNCPASSWORDS_COMMAND = fileURLToPath(new URL('../../../native/pwsync-syncpasswords', import.meta.url));

/**
 * `capture.samba`: the agent runs `samba-tool user syncpasswords` on a Samba AD domain controller
 * and supervises it; syncpasswords hands every changed account's current state, with the cleartext
 * Samba keeps GPG-encrypted, to pwsync-samba-hook, which hands it to the agent.
 */
export const sambaCaptureSchema = z.strictObject({
  /** The DC's smb.conf. */
  smbConf: z.string().min(1).default('/etc/samba/smb.conf'),
  /** The source system its changes belong to; default the agent's first. */
  source: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/).optional(),
  /**
   * How to run samba-tool (as root: syncpasswords reads the database through the privileged
   * socket). Default pwsync's `native/pwsync-syncpasswords`, samba-tool with a quicker wait.
   */
  command: z.array(z.string().min(1)).min(1).default([DEFAULT_SYNCPASSWORDS_COMMAND]),
  /**
   * How syncpasswords waits for changes (with the default command): `notify` (Samba's notification,
   * at once with `-M single`), `poll` (the directory's USN every `pollInterval`; any process
   * model), `samba` (samba-tool's own: up to 5 s under prefork), or `auto`: `notify` when the
   * running Samba is seen to use `-M single` (its master has no child processes), `poll` otherwise.
   */
  wake: z.enum(['auto', 'notify', 'poll', 'samba']).default('auto'),
  pollInterval: durationSchema.default(200).refine((ms) => ms >= 10 && ms <= 60_000, 'between 10ms and 60s'),
  /** GNUPGHOME with the private key named by smb.conf's `password hash gpg key ids`; default: the agent's own GNUPGHOME or ~/.gnupg. */
  gnupgHome: z.string().min(1).optional(),
  /** syncpasswords' cursor (its cache database); default `<dataDir>/samba-syncpasswords.ldb`. Back it up with the agent's data. */
  cursor: z.string().min(1).optional(),
  /** The hook syncpasswords runs; default `native/build/pwsync-samba-hook` of this pwsync. Fixed in the cursor when it is created. */
  hook: z.string().min(1).optional(),
  /** syncpasswords' LDAP filter, fixed in the cursor when it is created; default its own (normal user accounts, not krbtgt). */
  filter: z.string().min(1).optional(),
  /**
   * Passwords set before the cursor was created, which syncpasswords' first pass reports for every
   * account: `skip` them (default; capture starts now) or `forward` them (an initial sync).
   */
  existingPasswords: z.enum(['skip', 'forward']).default('skip'),
  /** Wait before starting syncpasswords again after it stopped; doubled up to 60 s while it keeps stopping. */
  restartDelay: durationSchema.default(1000),
  /** How long the hook waits for the agent's answer before it fails (and syncpasswords is restarted). */
  hookTimeout: durationSchema.default(30_000),
});

export type RawSambaCapture = z.output<typeof sambaCaptureSchema>;

/** `capture.samba` with its paths absolute and its source settled. */
export interface SambaCaptureConfig extends Omit<RawSambaCapture, 'source' | 'cursor' | 'hook' | 'gnupgHome'> {
  readonly source: string;
  readonly cursor: string;
  readonly hook: string;
  readonly gnupgHome: string | undefined;
}

export function resolveSambaCapture(raw: RawSambaCapture, paths: { baseDir: string; dataDir: string; defaultSource: string }): SambaCaptureConfig {
  return {
    ...raw,
    smbConf: resolve(paths.baseDir, raw.smbConf),
    source: raw.source ?? paths.defaultSource,
    cursor: resolve(paths.baseDir, raw.cursor ?? resolve(paths.dataDir, 'samba-syncpasswords.ldb')),
    hook: raw.hook === undefined ? DEFAULT_SAMBA_HOOK : resolve(paths.baseDir, raw.hook),
    gnupgHome: raw.gnupgHome === undefined ? undefined : resolve(paths.baseDir, raw.gnupgHome),
  };
}
