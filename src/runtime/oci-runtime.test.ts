import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFailure } from './oci-runtime.ts';

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
