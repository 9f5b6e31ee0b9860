import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandFailure, execFailure } from './oci-runtime.ts';

const line = (msg: string) =>
  `time="2026-11-30T01:30:00Z" level=error msg="${msg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`;

test('execFailure: a missing command is 127, a missing -w directory or a non-executable 126', () => {
  const missing = execFailure(
    255,
    line(
      'exec failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory',
    ),
  );
  assert.equal(missing?.exitCode, 127);
  assert.match(missing!.message, /\/nope/);
  assert.doesNotMatch(missing!.message, /level=|time=/);
  assert.equal(
    execFailure(
      255,
      line(
        'exec failed: unable to start container process: exec: "nope": executable file not found in $PATH',
      ),
    )?.exitCode,
    127,
  );
  const cwd = execFailure(
    255,
    `out\n${line('exec failed: unable to start container process: chdir to cwd ("/nonexist") set in config.json failed: no such file or directory')}`,
  );
  assert.equal(cwd?.exitCode, 126);
  assert.match(cwd!.message, /\/nonexist/);
  assert.equal(
    execFailure(
      255,
      line('exec failed: unable to start container process: exec: "/etc/passwd": permission denied'),
    )?.exitCode,
    126,
  );
});

test('execFailure: other exits and outputs are left alone', () => {
  // the command itself exited 255, or wrote something that is not runc's log line
  assert.equal(execFailure(255, 'no such file or directory\n'), undefined);
  assert.equal(execFailure(1, line('exec: "/nope": stat /nope: no such file or directory')), undefined);
  assert.equal(execFailure(255, line('some other runtime failure')), undefined);
});

test('commandFailure: runc create’s refusals to execute the command (real runc 1.1.5 messages through conmon)', () => {
  const created = (tail: string) => `runc create failed: unable to start container process: exec: ${tail}`;
  assert.deepEqual(commandFailure(created('"nonexistent-cmd": executable file not found in $PATH')), {
    exitCode: 127,
    command: 'nonexistent-cmd',
    reason: 'executable file not found in $PATH',
  });
  assert.deepEqual(commandFailure(created('"/no/such": stat /no/such: no such file or directory')), {
    exitCode: 127,
    command: '/no/such',
    reason: 'no such file or directory',
  });
  // a file without the x bit, and a directory: runc says permission denied for both
  for (const cmd of ['/etc/passwd', '/etc'])
    assert.deepEqual(commandFailure(created(`"${cmd}": permission denied`)), {
      exitCode: 126,
      command: cmd,
      reason: 'permission denied',
    });
  assert.equal(commandFailure(created('"/bin/x": exec format error'))?.exitCode, 126);
  // crun names the command in backquotes
  assert.deepEqual(commandFailure('executable file `nope` not found in $PATH: No such file or directory'), {
    exitCode: 127,
    command: 'nope',
    reason: 'executable file not found in $PATH',
  });
});

test('commandFailure: failures that are not about the command are left alone', () => {
  // a missing bind-mount source says "no such file or directory" too: not 127
  assert.equal(
    commandFailure(
      'runc create failed: unable to start container process: error during container init: error mounting "/srv/x" to rootfs at "/data": stat /srv/x: no such file or directory',
    ),
    undefined,
  );
  assert.equal(commandFailure('runc create failed: permission denied'), undefined);
  assert.equal(commandFailure(''), undefined);
});
