/** brig exec [-i] [-t] [-e K=V]... [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]: exits with its status. */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import { type CliContext, collect } from '../context.ts';
import { relay } from './container-io.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('exec')
    .description('Run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .option('-e, --env <NAME=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('-w, --workdir <dir>', 'working directory')
    .passThroughOptions()
    .action(
      async (
        ref: string,
        args: string[],
        o: { interactive?: boolean; tty?: boolean; env: string[]; user?: string; workdir?: string },
      ) => {
        const env = o.env.flatMap((kv) =>
          kv.includes('=') ? [kv] : process.env[kv] !== undefined ? [`${kv}=${process.env[kv]}`] : [],
        );
        const { socket, head } = await containers.exec(ctx.client(), ref, {
          args,
          env,
          tty: o.tty === true,
          stdin: o.interactive === true,
          ...(o.user ? { user: o.user } : {}),
          ...(o.workdir ? { workdir: o.workdir } : {}),
        });
        const code = await relay(socket, head, { tty: o.tty === true, stdin: o.interactive === true });
        ctx.exitCode = code ?? 125;
      },
    );
}
