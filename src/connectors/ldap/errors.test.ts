import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AdminLimitExceededError, AlreadyExistsError, BusyError, ConfidentialityRequiredError, ConstraintViolationError, InsufficientAccessError,
  InvalidCredentialsError, NoSuchObjectError, ObjectClassViolationError, ProtocolError, TimeLimitExceededError, TLSNotSupportedError,
  UnavailableError, UnknownStatusCodeError, UnwillingToPerformError,
} from 'ldapts';
import { AccountNotFoundError, PolicyError, TargetDataError, type PwsyncError } from '../../core/errors.ts';
import { LdapOpenError, LdapRequestError, type OpenPhase } from '../../ldap-client/connection.ts';
import { mapLdapError } from './errors.ts';
import { EVENT } from '../../core/events.ts';

const DN = 'uid=jdoe,ou=people,dc=example,dc=org';

type Expected = readonly [code: string, retryable: boolean, event: number];

const POLICY: Expected = ['ERR_POLICY', false, EVENT.POLICY_REFUSED];
const NOT_FOUND: Expected = ['ERR_ACCOUNT_NOT_FOUND', false, EVENT.ACCOUNT_NOT_FOUND];
const TRANSIENT: Expected = ['ERR_TRANSIENT', true, EVENT.RETRY_SCHEDULED];
const INSECURE: Expected = ['ERR_INSECURE_CONNECTION', false, EVENT.INSECURE_CONNECTION];
const SERVICE_CREDENTIALS: Expected = ['ERR_SERVICE_CREDENTIALS', false, EVENT.SERVICE_CREDENTIALS_REFUSED];
const ACCESS_DENIED: Expected = ['ERR_ACCESS_DENIED', false, EVENT.ACCESS_DENIED];
const TARGET_DATA: Expected = ['ERR_TARGET_DATA', false, EVENT.DELIVERY_FAILED];

function assertMaps(e: unknown, [code, retryable, event]: Expected, label: string): PwsyncError {
  const mapped = mapLdapError(e, DN, 'setting the password of');
  assert.deepEqual({ code: mapped.code, retryable: mapped.retryable, event: mapped.event }, { code, retryable, event }, label);
  assert.equal(mapped.cause, e, `${label}: the original error is the cause`);
  return mapped;
}

/** An Error carrying a Node-style `code`, as sockets and TLS raise them. */
function withCode(code: string, message = 'failed'): Error {
  return Object.assign(new Error(message), { code });
}

function opened(phase: OpenPhase, cause: unknown): LdapOpenError {
  return new LdapOpenError(phase, { cause });
}

void describe('mapLdapError', () => {
  void test('result codes of an operation', () => {
    assertMaps(new ConstraintViolationError('Password fails quality checking policy'), POLICY, 'constraint violation (19)');
    assertMaps(new NoSuchObjectError(), NOT_FOUND, 'no such object (32)');
    assertMaps(new InsufficientAccessError(), ACCESS_DENIED, 'insufficient access (50)');
    assertMaps(new BusyError(), TRANSIENT, 'busy (51)');
    assertMaps(new UnavailableError(), TRANSIENT, 'unavailable (52)');
    assertMaps(new TimeLimitExceededError(), TRANSIENT, 'time limit (3)');
    assertMaps(new AdminLimitExceededError(), TRANSIENT, 'admin limit (11)');
    assertMaps(new UnknownStatusCodeError(80, 'internal error'), TRANSIENT, 'other (80)');
    assertMaps(new UnwillingToPerformError('0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM)'), TARGET_DATA, 'unwilling to perform (53)');
    assertMaps(new ObjectClassViolationError(), TARGET_DATA, 'object class violation (65)');
    assertMaps(new AlreadyExistsError(), TARGET_DATA, 'already exists (68)');
    assertMaps(new ConfidentialityRequiredError(), TARGET_DATA, 'confidentiality required (13)');
    assertMaps(new ProtocolError(), TARGET_DATA, 'protocol error (2)');
    assertMaps(new UnknownStatusCodeError(4096, 'made up'), TARGET_DATA, 'an unknown code');
  });

  void test('the codes the table relies on are the ones ldapts gives its classes', () => {
    assert.equal(new ConstraintViolationError().code, 19);
    assert.equal(new NoSuchObjectError().code, 32);
    assert.equal(new InvalidCredentialsError().code, 49);
    assert.equal(new InsufficientAccessError().code, 50);
    assert.equal(new BusyError().code, 51);
    assert.equal(new UnavailableError().code, 52);
    assert.equal(new UnwillingToPerformError().code, 53);
    assert.equal(new TimeLimitExceededError().code, 3);
    assert.equal(new AdminLimitExceededError().code, 11);
  });

  void test("invalid credentials: the service account's bind is 7013; elsewhere it is the target's answer", () => {
    assertMaps(opened('bind', new InvalidCredentialsError()), SERVICE_CREDENTIALS, 'bind refused');
    assertMaps(new InvalidCredentialsError(), TARGET_DATA, 'invalid credentials outside the open');
  });

  void test('result codes at the bind keep their meaning', () => {
    assertMaps(opened('bind', new InsufficientAccessError()), ACCESS_DENIED, 'bind: insufficient access');
    assertMaps(opened('bind', new BusyError()), TRANSIENT, 'bind: busy');
    assertMaps(opened('bind', new UnavailableError()), TRANSIENT, 'bind: unavailable');
    assertMaps(opened('bind', new UnwillingToPerformError()), TARGET_DATA, 'bind: unwilling');
    assertMaps(opened('bind', new ConfidentialityRequiredError()), TARGET_DATA, 'bind: confidentiality required');
  });

  void test('connection failures are retried, wrapped in LdapOpenError or not', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']) {
      assertMaps(withCode(code), TRANSIENT, code);
      assertMaps(opened('connect', withCode(code)), TRANSIENT, `connect: ${code}`);
    }
    assertMaps(opened('starttls', withCode('ECONNRESET')), TRANSIENT, 'starttls: ECONNRESET');
    assertMaps(new Error('Connection closed'), TRANSIENT, 'ldapts: connection closed');
    assertMaps(Object.assign(new Error('Timeout'), { name: 'TimeoutError' }), TRANSIENT, 'a timeout by name');
  });

  void test('what nobody classified is retried too (bounded by the retry count)', () => {
    assertMaps(new Error('something odd'), TRANSIENT, 'a plain Error');
    assertMaps('a string thrown', TRANSIENT, 'a string');
    assertMaps(undefined, TRANSIENT, 'undefined');
    assertMaps(new TypeError('x is not a function'), TRANSIENT, 'a TypeError');
  });

  void test('TLS failures are the insecure connection (7005), final, at any phase', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_PIN_MISMATCH', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
      assertMaps(withCode(code), INSECURE, code);
      assertMaps(opened('connect', withCode(code)), INSECURE, `connect: ${code}`);
      assertMaps(opened('starttls', withCode(code)), INSECURE, `starttls: ${code}`);
    }
  });

  void test('StartTLS refused by the server (any result code) is the insecure connection', () => {
    assertMaps(opened('starttls', new TLSNotSupportedError()), INSECURE, 'starttls: TLS not supported');
    assertMaps(opened('starttls', new ProtocolError()), INSECURE, 'starttls: protocol error');
    assertMaps(opened('starttls', new UnavailableError()), INSECURE, 'starttls: unavailable');
  });

  void test('a PwsyncError passes through unchanged', () => {
    for (const e of [new PolicyError('already mapped'), new AccountNotFoundError('gone'), new TargetDataError('odd')]) {
      assert.equal(mapLdapError(e, DN, 'setting the password of'), e);
    }
  });

  void test('the message names the action and the target', () => {
    const mapped = mapLdapError(new NoSuchObjectError(), DN, 'setting the password of');
    assert.ok(mapped.message.includes(DN));
    assert.ok(mapped.message.includes('setting the password of'));
  });
});

void describe('mapLdapError: a request that cannot be built', () => {
  void test('is final (7010), never a transient connection fault', () => {
    const e = new LdapRequestError('the search filter cannot be built: Invalid attribute name: a b');
    const mapped = mapLdapError(e, DN, 'looking up');
    assert.deepEqual({ code: mapped.code, retryable: mapped.retryable, event: mapped.event }, { code: 'ERR_LDAP_REQUEST', retryable: false, event: EVENT.DELIVERY_FAILED });
  });
});
