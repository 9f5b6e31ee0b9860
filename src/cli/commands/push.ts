/**
 * brig push [-q] NAME[:TAG]
 *
 * Pushes the image recorded under NAME to the registry NAME names. Pushing one platform to a tag
 * that holds a multi-platform index keeps the index's other platforms.
 */
import type { Command } from 'commander';
import { pushImage } from '../../client/registry.ts';
import type { CliContext } from '../context.ts';
import { pushedText } from './registry-output.ts';
import { withProgress } from './registry-progress.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('push')
    .description('Push an image to a registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-q, --quiet', 'print only the pushed digest')
    .action(async (name: string, o: { quiet?: boolean }) => {
      const res = await withProgress('Uploading', o.quiet, (onProgress) =>
        pushImage(ctx.client(), name, onProgress),
      );
      process.stdout.write(pushedText(res, o.quiet === true));
    });
}
