/** brig create [flags] IMAGE [COMMAND [ARG...]]: prints the new container's id. */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';
import { addCreateFlags, type CreateFlags, createBody } from './container-flags.ts';

export function register(program: Command, ctx: CliContext): void {
  addCreateFlags(
    program
      .command('create')
      .description('Create a container without starting it')
      .argument('<image>')
      .argument('[command...]')
      .passThroughOptions(),
  ).action(async (image: string, command: string[], o: CreateFlags) => {
    const c = await containers.create(ctx.client(), createBody(image, command, o));
    process.stdout.write(`${c.id}\n`);
  });
}
