/**
 * brig logout HOST: removes HOST's credentials from brigd's credentials file and erases them from
 * the docker credential helper configured for HOST, if any.
 */
import type { Command } from 'commander';
import { logout } from '../../client/registry.ts';
import type { CliContext } from '../context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('logout')
    .description('Log out of a registry (brigd forgets the credentials)')
    .argument('<host>', 'registry HOST[:PORT]')
    .action(async (host: string) => {
      const r = await logout(ctx.client(), host);
      process.stdout.write(
        r.removed ? `Removed login credentials for ${r.host}\n` : `Not logged in to ${r.host}\n`,
      );
    });
}
