import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { addPwsyncLines, describeChange, looksLikePasswordStack, PAM_MARKER, pamLine, PamEditError, removePwsyncLines, type PamEditCode } from './config-edit.ts';

/** Debian 12's common-password as pam-auth-update writes it (shortened comments). */
const DEBIAN = [
  '#',
  '# /etc/pam.d/common-password - password-related modules common to all services',
  '#',
  '# here are the per-package modules (the "Primary" block)',
  'password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt',
  '# here\'s the fallback if no module succeeds',
  'password\trequisite\t\t\tpam_deny.so',
  'password\trequired\t\t\tpam_permit.so',
  '# and here are more per-package modules (the "Additional" block)',
  '# end of pam-auth-update config',
  '',
].join('\n');

const LINE = pamLine({ module: 'pam_pwsync.so', socket: '/var/lib/pwsync-agent/capture.sock', timeoutMs: 2000 });

function refusal(fn: () => unknown): PamEditCode {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PamEditError, `expected a PamEditError, got ${inspect(e)}`);
    return e.code;
  }
  assert.fail('expected a refusal');
}

void describe('PAM stack editing', () => {
  void test('the line: module, then only the arguments given, in a fixed order', () => {
    assert.equal(LINE, 'password optional pam_pwsync.so socket=/var/lib/pwsync-agent/capture.sock timeout=2000');
    assert.equal(
      pamLine({ module: '/opt/pam/pam_pwsync.so', source: 'corp', missed: '/var/lib/a/m.jsonl', debug: true, timeoutMs: 100, agentUser: 'pwsync-agent', socket: '/s' }),
      'password optional /opt/pam/pam_pwsync.so socket=/s user=pwsync-agent timeout=100 source=corp missed=/var/lib/a/m.jsonl debug',
    );
    assert.equal(pamLine({ module: 'pam_pwsync.so' }), 'password optional pam_pwsync.so');
  });

  void test('arguments PAM cannot carry are refused', () => {
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', socket: '/var/lib/my agent/capture.sock' })), 'ERR_PAM_BAD_ARGUMENT');
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', socket: '/x]' })), 'ERR_PAM_BAD_ARGUMENT');
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', source: 'a\tb' })), 'ERR_PAM_BAD_ARGUMENT');
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', missed: '' })), 'ERR_PAM_BAD_ARGUMENT');
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', agentUser: 'pwsync agent' })), 'ERR_PAM_BAD_ARGUMENT');
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', timeoutMs: 99 })), 'ERR_PAM_BAD_ARGUMENT');
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', timeoutMs: 10_001 })), 'ERR_PAM_BAD_ARGUMENT');
    assert.equal(refusal(() => pamLine({ module: 'pam_pwsync.so', timeoutMs: 1.5 })), 'ERR_PAM_BAD_ARGUMENT');
  });

  void test('added at the end, after the rest unchanged', () => {
    const { text, changed } = addPwsyncLines(DEBIAN, LINE);
    assert.equal(changed, true);
    assert.equal(text, `${DEBIAN}${PAM_MARKER}\n${LINE}\n`);
  });

  void test('idempotent: a second install with the same line changes nothing; another line replaces ours', () => {
    const once = addPwsyncLines(DEBIAN, LINE).text;
    const twice = addPwsyncLines(once, LINE);
    assert.equal(twice.changed, false);
    assert.equal(twice.text, once);
    const other = pamLine({ module: 'pam_pwsync.so', timeoutMs: 500 });
    const replaced = addPwsyncLines(once, other).text;
    assert.equal(replaced, `${DEBIAN}${PAM_MARKER}\n${other}\n`);
    assert.equal(replaced.split(PAM_MARKER).length, 2, 'one marker');
  });

  void test('removal gives back the same bytes, with comments, tabs, CRs and odd spacing kept', () => {
    const odd = ['  # indented comment  ', 'password   [success=1 default=ignore]   pam_unix.so  obscure\t', '', '\t\t', 'password requisite pam_deny.so\r', '-password optional pam_gnome_keyring.so', '# trailing'].join('\n') + '\n';
    for (const original of [DEBIAN, odd, odd.slice(0, -1), 'password required pam_permit.so', '']) {
      const installed = addPwsyncLines(original, LINE, { force: original === '' }).text;
      assert.ok(installed.includes(`${PAM_MARKER}\n${LINE}`));
      const { text, removed } = removePwsyncLines(installed);
      assert.equal(removed, 2);
      assert.equal(text, original, `round trip of ${JSON.stringify(original)}`);
      // Installing again over our own lines, then removing, still gives the original.
      assert.equal(removePwsyncLines(addPwsyncLines(installed, LINE, { force: original === '' }).text).text, original);
    }
  });

  void test('removal takes only our lines, also when they are not at the end', () => {
    const middle = `${DEBIAN.split('\n').slice(0, 8).join('\n')}\n${PAM_MARKER}\n${LINE}\n${DEBIAN.split('\n').slice(8).join('\n')}`;
    assert.deepEqual(removePwsyncLines(middle), { text: DEBIAN, removed: 2 });
    assert.deepEqual(removePwsyncLines(DEBIAN), { text: DEBIAN, removed: 0 });
    // A marker whose module line was edited away: the marker goes, the next line stays.
    const orphan = `${DEBIAN}${PAM_MARKER}\npassword optional pam_other.so\n`;
    assert.deepEqual(removePwsyncLines(orphan), { text: `${DEBIAN}password optional pam_other.so\n`, removed: 1 });
  });

  void test('a file that is not a password stack is refused unless forced', () => {
    const auth = 'auth required pam_unix.so\naccount required pam_unix.so\n# password is only a word here\n';
    assert.equal(looksLikePasswordStack(auth), false);
    assert.equal(refusal(() => addPwsyncLines(auth, LINE)), 'ERR_PAM_NOT_A_PASSWORD_STACK');
    assert.equal(refusal(() => addPwsyncLines('', LINE)), 'ERR_PAM_NOT_A_PASSWORD_STACK');
    assert.equal(addPwsyncLines(auth, LINE, { force: true }).text, `${auth}${PAM_MARKER}\n${LINE}\n`);
    assert.equal(looksLikePasswordStack('-password optional pam_gnome_keyring.so\n'), true);
  });

  void test('a pam_pwsync line added by hand is refused unless forced, and never removed', () => {
    const hand = `${DEBIAN}password optional /usr/local/lib/security/pam_pwsync.so debug\n`;
    assert.equal(refusal(() => addPwsyncLines(hand, LINE)), 'ERR_PAM_UNMARKED_PWSYNC_LINE');
    const forced = addPwsyncLines(hand, LINE, { force: true }).text;
    assert.equal(forced, `${hand}${PAM_MARKER}\n${LINE}\n`);
    assert.equal(removePwsyncLines(forced).text, hand);
    // A commented-out one is only a comment.
    const commented = `${DEBIAN}# password optional pam_pwsync.so\n`;
    assert.equal(addPwsyncLines(commented, LINE).text, `${commented}${PAM_MARKER}\n${LINE}\n`);
  });

  void test('the dry-run view shows what is added and removed', () => {
    const installed = addPwsyncLines(DEBIAN, LINE).text;
    assert.match(describeChange(DEBIAN, installed), new RegExp(`^\\+ ${PAM_MARKER.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n\\+ ${LINE}$`, 'm'));
    assert.match(describeChange(installed, DEBIAN), /^- password optional pam_pwsync\.so/m);
    assert.equal(describeChange(DEBIAN, DEBIAN), '');
  });
});
