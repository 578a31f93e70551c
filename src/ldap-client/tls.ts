import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { PwsyncError } from '../core/errors.ts';
import { EVENT } from '../core/events.ts';

/**
 * The server's certificate chain holds none of the pinned keys. Raised by the TLS handshake (Node
 * reads its `code` as it reads its own TLS errors); callers map it by cause, as any TLS failure.
 */
export class TlsPinMismatchError extends PwsyncError {
  readonly code = 'ERR_TLS_PIN_MISMATCH';
  override readonly event = EVENT.INSECURE_CONNECTION;
}

/** How the server's certificate is checked. */
export interface TlsSettings {
  /** PEM of the CA(s) to trust instead of the system's. */
  readonly ca?: Buffer | undefined;
  /** `false` accepts any certificate: only for a test directory, and never called secure. */
  readonly rejectUnauthorized: boolean;
  /**
   * `sha256/<base64>` of a SubjectPublicKeyInfo (as curl's `--pinnedpubkey` and HPKP's
   * `pin-sha256`). When any is given, the verified chain must hold one of these keys as well.
   */
  readonly pins?: readonly string[] | undefined;
}

/**
 * The pin of a certificate's public key: `sha256/` and the base64 SHA-256 of its SPKI DER. Taken
 * from the certificate itself (`raw`): a peer certificate's `pubkey` is not the SPKI for every key
 * type (for EC keys it is the bare point).
 */
export function spkiPin(cert: Pick<PeerCertificate, 'raw'>): string | undefined {
  try {
    const spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
    return `sha256/${createHash('sha256').update(spki).digest('base64')}`;
  } catch {
    return undefined;
  }
}

/** Whether `pin` is written as `sha256/` and 44 base64 characters of a SHA-256. */
export function isPin(pin: string): boolean {
  return /^sha256\/[A-Za-z0-9+/]{43}=$/.test(pin);
}

/** The certificates the server sent, its own first. */
function chainOf(cert: PeerCertificate): PeerCertificate[] {
  const chain: PeerCertificate[] = [];
  let current: PeerCertificate | undefined = cert;
  // A self-signed certificate is its own issuer: stop at a repeat.
  while (current !== undefined && !chain.includes(current) && Object.keys(current).length > 0) {
    chain.push(current);
    const issuer: unknown = (current as { issuerCertificate?: unknown }).issuerCertificate;
    current = issuer === current ? undefined : (issuer as PeerCertificate | undefined);
  }
  return chain;
}

/** Node's TLS options for a connection to `url`'s host with these settings. */
export function tlsOptions(url: string, settings: TlsSettings): ConnectionOptions {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const pins = settings.pins ?? [];
  return {
    host,
    // SNI takes a name, never an address.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(settings.ca === undefined ? {} : { ca: [settings.ca] }),
    rejectUnauthorized: settings.rejectUnauthorized,
    ...(pins.length === 0
      ? {}
      : {
          checkServerIdentity: (name: string, cert: PeerCertificate): Error | undefined => {
            const mismatch = checkServerIdentity(name, cert);
            if (mismatch !== undefined) return mismatch;
            const seen = chainOf(cert).map(spkiPin).filter((pin) => pin !== undefined);
            if (seen.some((pin) => pins.includes(pin))) return undefined;
            return new TlsPinMismatchError(`the server's certificate chain holds none of the pinned keys (it holds ${seen.join(', ')})`);
          },
        }),
  };
}

/** Whether settings give a verified TLS connection (certificate checked; pins add to that). */
export function verifies(settings: TlsSettings): boolean {
  return settings.rejectUnauthorized;
}
