import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelOf } from './process-model.ts';

test("samba's process model is read from the command line of the samba that reads the configuration", () => {
  assert.equal(modelOf(['/usr/sbin/samba', '-s', '/tmp/dc/etc/smb.conf', '-i', '-M', 'single'], '/tmp/dc/etc/smb.conf'), 'single');
  assert.equal(modelOf(['samba', '--configfile=/tmp/dc/etc/smb.conf', '--model=standard'], '/tmp/dc/etc/smb.conf'), 'standard');
  assert.equal(modelOf(['samba', '-s/tmp/dc/etc/smb.conf', '-Msingle'], '/tmp/dc/etc/smb.conf'), 'single');
  // systemd's samba-ad-dc.service: no -s, no -M.
  assert.equal(modelOf(['/usr/sbin/samba', '--foreground', '--no-process-group'], '/etc/samba/smb.conf'), 'prefork');
  assert.equal(modelOf(['/usr/sbin/samba', '-s', '/other/smb.conf', '-M', 'single'], '/tmp/dc/etc/smb.conf'), undefined);
  assert.equal(modelOf(['/usr/sbin/smbd', '-s', '/tmp/dc/etc/smb.conf'], '/tmp/dc/etc/smb.conf'), undefined);
  assert.equal(modelOf([], '/etc/samba/smb.conf'), undefined);
});
