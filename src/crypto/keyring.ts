import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { DecryptError, KeyError } from '../core/errors.ts';
import type { SealedSecret } from '../core/model.ts';
import { clearBuffer, Secret } from '../core/secret.ts';
import { newKeyEntry, readKeyFile, writeKeyFile, type KeyFileContent } from './key-file.ts';
import { pathExists } from '../util/files.ts';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The store's keyring: AES-256-GCM, a random nonce per ciphertext, the key id stored with every
 * ciphertext. The first key encrypts; every key decrypts, so rotation never strands a secret.
 *
 * The additional authenticated data binds a ciphertext to its key id and to a context (the change
 * id), so a sealed secret copied onto another change's row does not decrypt.
 */
export class Keyring {
  #keys: Map<string, KeyObject>;
  #activeId: string;

  private constructor(
    readonly file: string,
    content: KeyFileContent,
  ) {
    this.#keys = toKeyObjects(content);
    this.#activeId = firstId(content);
  }

  /** Loads a keyring file (checked for mode and shape). */
  static async load(file: string): Promise<Keyring> {
    return new Keyring(file, await readKeyFile(file));
  }

  /** Creates a new keyring file with one key; refuses to overwrite an existing file. */
  static async create(file: string): Promise<Keyring> {
    if (await pathExists(file)) throw new KeyError(`store key file ${file} already exists; refusing to overwrite it`);
    const content: KeyFileContent = { version: 1, keys: [newKeyEntry()] };
    await writeKeyFile(file, content);
    return new Keyring(file, content);
  }

  get activeKeyId(): string {
    return this.#activeId;
  }

  get keyIds(): readonly string[] {
    return [...this.#keys.keys()];
  }

  /** Encrypts the secret under the active key, bound to `context`. */
  seal(secret: Secret, context: string): SealedSecret {
    const keyId = this.#activeId;
    const key = this.#keys.get(keyId);
    if (!key) throw new KeyError(`active key ${keyId} missing from the keyring`);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad(keyId, context));
    const body = secret.useSync((clear) => Buffer.concat([cipher.update(clear), cipher.final()]));
    return { keyId, blob: Buffer.concat([nonce, body, cipher.getAuthTag()]) };
  }

  /**
   * Decrypts a sealed secret. A key id this keyring does not know makes it read its file again
   * once (another process may have rotated the key) before it gives up.
   */
  async open(sealed: SealedSecret, context: string): Promise<Secret> {
    if (!this.#keys.has(sealed.keyId)) await this.reload();
    const key = this.#keys.get(sealed.keyId);
    if (!key) throw new DecryptError(`no key ${sealed.keyId} in ${this.file}: the secret cannot be decrypted`);
    if (sealed.blob.length < NONCE_BYTES + TAG_BYTES) throw new DecryptError('sealed secret is truncated');
    const nonce = sealed.blob.subarray(0, NONCE_BYTES);
    const tag = sealed.blob.subarray(sealed.blob.length - TAG_BYTES);
    const body = sealed.blob.subarray(NONCE_BYTES, sealed.blob.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(aad(sealed.keyId, context));
    decipher.setAuthTag(tag);
    // Every buffer that holds clear bytes is wiped or becomes the secret's own: `update`'s output
    // too, which holds the password before the tag is even checked.
    const clear = decipher.update(body);
    let last: Buffer;
    try {
      last = decipher.final();
    } catch (e) {
      clear.fill(0);
      throw new DecryptError(`sealed secret under key ${sealed.keyId} failed authentication (wrong key or tampered)`, { cause: e });
    }
    // GCM is a stream mode: `final` returns nothing, and `update`'s buffer is the whole password.
    if (last.length === 0) return Secret.adopt(clear);
    const whole = clearBuffer(clear.length + last.length);
    clear.copy(whole);
    last.copy(whole, clear.length);
    clear.fill(0);
    last.fill(0);
    return Secret.adopt(whole);
  }

  /** Reads the key file again (after another process rotated it). */
  async reload(): Promise<void> {
    const content = await readKeyFile(this.file);
    this.#keys = toKeyObjects(content);
    this.#activeId = firstId(content);
  }

  /**
   * Adds a new key in front (it encrypts from now on) and writes the file atomically. Old keys
   * stay so that everything sealed under them still opens; re-sealing is the caller's next step.
   */
  async rotate(): Promise<string> {
    const current = await readKeyFile(this.file);
    const entry = newKeyEntry();
    await writeKeyFile(this.file, { version: 1, keys: [entry, ...current.keys] });
    await this.reload();
    return entry.id;
  }
}

function aad(keyId: string, context: string): Buffer {
  return Buffer.from(`pwsync/v1\0${keyId}\0${context}`, 'utf8');
}

function toKeyObjects(content: KeyFileContent): Map<string, KeyObject> {
  const map = new Map<string, KeyObject>();
  for (const k of content.keys) {
    const raw = Buffer.from(k.key, 'base64');
    map.set(k.id, createSecretKey(raw));
    raw.fill(0);
  }
  return map;
}

function firstId(content: KeyFileContent): string {
  const first = content.keys[0];
  if (!first) throw new KeyError('keyring has no key');
  return first.id;
}
