import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable, Writable } from 'node:stream';
import { promptNewSecret, promptSecret, readSecretFromStream } from './read-secret.ts';

/** A stand-in terminal: a stream with isTTY and setRawMode, recording what is echoed. */
function terminal(keystrokes: (string | Buffer)[]): { tty: NodeJS.ReadStream; out: NodeJS.WriteStream; echoed: () => string; rawModes: boolean[] } {
  const input = new PassThrough();
  const rawModes: boolean[] = [];
  const tty = Object.assign(input, {
    isTTY: true,
    setRawMode(mode: boolean) {
      rawModes.push(mode);
      return tty;
    },
  }) as unknown as NodeJS.ReadStream;
  let written = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      written += chunk.toString('utf8');
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  // Type keys once the prompt listens.
  setImmediate(() => {
    for (const k of keystrokes) input.write(typeof k === 'string' ? Buffer.from(k, 'utf8') : k);
  });
  return { tty, out, echoed: () => written, rawModes };
}

test('the prompt reads without echo, in raw mode, and restores the terminal', async () => {
  const t = terminal(['Pässw', 'ord!', '\r']);
  const secret = await promptSecret('New password: ', t.tty, t.out);
  assert.equal(secret.useSync((c) => c.toString('utf8')), 'Pässword!');
  assert.equal(t.echoed(), 'New password: \n');
  assert.deepEqual(t.rawModes, [true, false]);
});

test('backspace erases a whole UTF-8 character', async () => {
  const t = terminal(['abä', Buffer.from([0x7f]), 'c\r']);
  const secret = await promptSecret('p: ', t.tty, t.out);
  assert.equal(secret.useSync((c) => c.toString('utf8')), 'abc');
});

test('Ctrl-C aborts the prompt', async () => {
  const t = terminal(['abc', Buffer.from([0x03])]);
  await assert.rejects(promptSecret('p: ', t.tty, t.out), { code: 'ERR_INVALID_INPUT' });
  assert.deepEqual(t.rawModes, [true, false]);
});

test('asking twice: the same answer twice is taken; mismatches and empty passwords are refused', async () => {
  // A paste of both answers in one chunk: the second prompt reads what follows the first Enter.
  const pasted = terminal(['s3cret-Pw\rs3cret-Pw\r']);
  const secret = await promptNewSecret(pasted.tty, pasted.out);
  assert.equal(secret.useSync((c) => c.toString('utf8')), 's3cret-Pw');
  const typed = terminal(['one\r', 'two\r']);
  await assert.rejects(promptNewSecret(typed.tty, typed.out), { code: 'ERR_INVALID_INPUT' });
  const empty = terminal(['\r', '\r']);
  await assert.rejects(promptNewSecret(empty.tty, empty.out), { code: 'ERR_INVALID_INPUT' });
});

test('a prompt refuses a non-terminal input and says to use --stdin', async () => {
  const notTty = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.ReadStream;
  await assert.rejects(promptSecret('p: ', notTty), (e: unknown) => e instanceof Error && /--stdin/.test(e.message));
});

test('standard input: the first line, without its line ending, as bytes', async () => {
  const s = await readSecretFromStream(Readable.from([Buffer.from('Zoë-密码\r\nignored\n')]));
  assert.equal(s.useSync((c) => c.toString('utf8')), 'Zoë-密码');
  const noNewline = await readSecretFromStream(Readable.from([Buffer.from('abc')]));
  assert.equal(noNewline.useSync((c) => c.toString('utf8')), 'abc');
  await assert.rejects(readSecretFromStream(Readable.from([Buffer.from('\n')])), { code: 'ERR_INVALID_INPUT' });
  await assert.rejects(readSecretFromStream(Readable.from([Buffer.alloc(5000, 0x61)])), { code: 'ERR_INVALID_INPUT' });
});

test('a password that is not UTF-8 is refused where it is typed or piped, with a reason; never taken as U+FFFD', async () => {
  const latin1 = Buffer.from('caf\xe9-Secret1', 'latin1');
  await assert.rejects(readSecretFromStream(Readable.from([Buffer.concat([latin1, Buffer.from('\n')])])), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'ERR_INVALID_INPUT' && /not valid UTF-8/.test(e.message));
  const t = terminal([latin1, '\r']);
  await assert.rejects(promptSecret('New password: ', t.tty, t.out), { code: 'ERR_INVALID_INPUT' });
  assert.deepEqual(t.rawModes, [true, false], 'the terminal is restored');
  // A hook's password (pwsync capture) was set at its source already: it is its bytes.
  const hook = await readSecretFromStream(Readable.from([Buffer.concat([latin1, Buffer.from('\n')])]), 'any');
  assert.equal(hook.useSync((c) => c.equals(latin1)), true);
  const utf8 = await readSecretFromStream(Readable.from([Buffer.from('café-Secret1\n', 'utf8')]));
  assert.equal(utf8.useSync((c) => c.toString('hex')), Buffer.from('café-Secret1', 'utf8').toString('hex'));
});
