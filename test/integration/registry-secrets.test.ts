/**
 * `brig login` options (docs/registries.md, "Credentials") and the rule that credentials never
 * show (registry.ts's contract): the built brigd at `log.level: debug` against docker-registry over
 * TLS with htpasswd basic auth.
 *   - `-p` logs in and warns on stderr; `-p` with `--password-stdin` is refused, and so are a
 *     missing `-u` (no terminal to ask on) and a wrong password; nothing is stored for them;
 *   - after logins with `-p` and with `--password-stdin`, a push and pulls, the password and its
 *     basic-auth form (plain or base64) are in none of: every CLI stdout and stderr, brigd's
 *     debug log, `brig events`, the raw API answers of a refused login and of pulls failing with
 *     wrong stored credentials and with an unknown tag.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../support/busybox.ts';
import { type CliResult, pastEvents, startDaemon, type TestDaemon } from '../support/daemon.ts';
import { assertNoSecret, makePki, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

/** POST `path` with `body` to brigd; the raw answer (status and body text, NDJSON streams whole). */
function rawPost(d: TestDaemon, path: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath: d.socket,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'content-length': String(payload.length) },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

test(
  'brig login -p / --password-stdin options; no password or basic-auth form in output, debug log, events or API answers',
  requires({ root: true, linux: true, commands: ['docker-registry', 'umoci', 'openssl', 'htpasswd'] }),
  async (t) => {
    const user = 'erin';
    const password = 'Secr3t-pw-9f27c1';
    const wrong = 'Wr0ng-pw-5d83aa';
    const pki = makePki(join(tempDir(t), 'pki'));
    const reg = await startRegistry(t, { tls: pki, htpasswd: { [user]: password } });
    const d = await startDaemon(t, { config: { log: { level: 'debug' } } });
    mkdirSync(join(d.dir, 'certs.d', reg.host), { recursive: true });
    cpSync(pki.caCert, join(d.dir, 'certs.d', reg.host, 'ca.crt'));
    const auth = join(d.root, 'auth.json');
    const outputs: CliResult[] = [];
    const brig = async (args: string[], input?: string) => {
      const r = await d.brig(args, input === undefined ? {} : { input });
      outputs.push(r);
      return r;
    };

    // refused: both password options, no -u (stdin is not a terminal), a wrong password
    let r = await brig(['login', '-u', user, '-p', password, '--password-stdin', reg.host], `${password}\n`);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /--password and --password-stdin/);
    r = await brig(['login', '-p', password, reg.host]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /username/);
    r = await brig(['login', '--password-stdin', reg.host], `${password}\n`);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /--username/);
    r = await brig(['login', '-u', user, '-p', wrong, reg.host]);
    assert.equal(r.code, 125);
    assert.equal(existsSync(auth), false, 'nothing stored by refused logins');

    // -p works and warns, as docker does
    r = await brig(['login', '-u', user, '-p', password, reg.host]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Login Succeeded/);
    assert.match(r.stderr, /WARNING.*--password-stdin/);
    assert.ok(existsSync(auth));

    const { layout } = busyboxImage();
    const work = tempDir(t);
    execFileSync('cp', ['-a', layout, join(work, 'bb')]);
    const name = `${reg.host}/secrets/bb:1`;
    r = await brig(['image', 'import', join(work, 'bb'), name]);
    assert.equal(r.code, 0, r.stderr);
    r = await brig(['push', name]);
    assert.equal(r.code, 0, r.stderr);
    r = await brig(['image', 'rm', name]);
    assert.equal(r.code, 0, r.stderr);
    r = await brig(['pull', name]);
    assert.equal(r.code, 0, r.stderr);

    // --password-stdin after a logout; the stored credentials pull again
    r = await brig(['logout', reg.host]);
    assert.equal(r.code, 0, r.stderr);
    r = await brig(['login', '-u', user, '--password-stdin', reg.host], `${password}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.includes('WARNING'), false);
    r = await brig(['pull', name]);
    assert.equal(r.code, 0, r.stderr);

    // API answers: a refused login, an unknown tag, then wrong stored credentials
    const answers: string[] = [];
    const login = await rawPost(d, '/registry/login', { host: reg.host, username: user, password: wrong });
    assert.ok(login.status >= 400, login.text);
    assert.match(login.text, /ERR_REGISTRY_UNAUTHORIZED/);
    answers.push(login.text);
    const missing = await rawPost(d, '/registry/pull', { reference: `${reg.host}/secrets/bb:nope` });
    assert.match(missing.text, /ERR_REGISTRY_NOT_FOUND/);
    answers.push(missing.text);
    const stored = readFileSync(auth, 'utf8');
    assert.ok(
      stored.includes(Buffer.from(`${user}:${password}`).toString('base64')),
      'the check below can see a leak',
    );
    writeFileSync(
      auth,
      JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${user}:${wrong}`).toString('base64') } } }),
    );
    const refused = await rawPost(d, '/registry/pull', { reference: name });
    assert.match(refused.text, /"error":\{"code":"ERR_REGISTRY_UNAUTHORIZED"/);
    answers.push(refused.text);
    r = await brig(['pull', name]);
    assert.equal(r.code, 125);

    const events = await pastEvents(d);
    assert.match(events, /"action":"login"/);
    assert.match(events, /"action":"push"/);
    assert.match(events, /"action":"pull"/);
    assert.match(d.logs(), /"level":"debug"/, 'brigd logged at debug level');
    const texts = [...outputs.flatMap((o) => [o.stdout, o.stderr]), events, d.logs(), ...answers];
    assertNoSecret(texts, user, password, 'the password is in no output, log, event or answer');
    assertNoSecret(texts, user, wrong, 'nor the wrong one');
  },
);
