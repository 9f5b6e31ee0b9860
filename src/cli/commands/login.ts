/**
 * brig login [-u USER] [-p PASS | --password-stdin] HOST
 *
 * brigd checks the credentials against the registry (GET /v2/) before storing them: through the
 * docker credential helper its files name for HOST (credHelpers, else credsStore), else in its
 * credentials file (docker's config.json format, mode 0600; docs/registries.md). Without -u or a
 * password, asks on the terminal (the password without echo).
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { login } from '../../client/registry.ts';
import { BrigError } from '../../errors/errors.ts';
import type { CliContext } from '../context.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function ask(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    if (hidden) {
      // echo nothing while the password is typed
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.includes(question)) process.stderr.write(question);
      };
    }
    rl.question(question, (a) => {
      rl.close();
      if (hidden) process.stderr.write('\n');
      resolve(a);
    });
  });
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description('Log in to a registry (brigd stores the credentials)')
    .argument('<host>', 'registry HOST[:PORT]')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (host: string, o: { username?: string; password?: string; passwordStdin?: boolean }) => {
      if (o.password !== undefined && o.passwordStdin) {
        throw new BrigError('ERR_INVALID_ARGUMENT', '--password and --password-stdin are mutually exclusive');
      }
      let username = o.username;
      let password = o.password;
      if (o.passwordStdin) {
        if (!username) throw new BrigError('ERR_INVALID_ARGUMENT', '--password-stdin needs --username');
        password = await readStdin();
      } else if (password !== undefined) {
        process.stderr.write(
          'WARNING! Using --password on the command line is insecure. Use --password-stdin.\n',
        );
      }
      const tty = process.stdin.isTTY === true;
      if (!username) {
        if (!tty) throw new BrigError('ERR_INVALID_ARGUMENT', 'no username given', { hint: 'Pass -u USER.' });
        username = (await ask('Username: ', false)).trim();
      }
      if (password === undefined) {
        if (!tty)
          throw new BrigError('ERR_INVALID_ARGUMENT', 'no password given', {
            hint: 'Pass --password-stdin and pipe it in.',
          });
        password = await ask('Password: ', true);
      }
      const r = await login(ctx.client(), host, username, password);
      process.stdout.write(`Login Succeeded (${r.host})\n`);
    });
}
