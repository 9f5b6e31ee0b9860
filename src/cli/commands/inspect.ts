/**
 * brig inspect NAME...: a JSON array with one record per name. A name is looked up as a container
 * first, then as an image (as docker does); `--type container|image` forces one.
 */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import { inspectImage } from '../../client/images.ts';
import { BrigError, isBrigError } from '../../errors/errors.ts';
import type { CliContext } from '../context.ts';
import { printJson } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('Show containers or images in detail (JSON)')
    .option('--type <type>', 'only look for a container or an image')
    .argument('<name...>')
    .action(async (refs: string[], o: { type?: string }) => {
      if (o.type !== undefined && o.type !== 'container' && o.type !== 'image') {
        throw new BrigError('ERR_INVALID_ARGUMENT', `--type ${o.type}: expected container or image`);
      }
      const out = [];
      for (const ref of refs) {
        if (o.type === 'image') {
          out.push(await inspectImage(ctx.client(), ref));
          continue;
        }
        try {
          out.push(await containers.inspect(ctx.client(), ref));
        } catch (e) {
          if (o.type === 'container' || !isBrigError(e, 'ERR_CONTAINER_NOT_FOUND')) throw e;
          try {
            out.push(await inspectImage(ctx.client(), ref));
          } catch (e2) {
            if (!isBrigError(e2, 'ERR_IMAGE_NOT_FOUND')) throw e2;
            throw new BrigError('ERR_NOT_FOUND', `no container or image named ${ref}`, {
              hint: 'List them with `brig ps -a` and `brig images`.',
            });
          }
        }
      }
      printJson(out);
    });
}
