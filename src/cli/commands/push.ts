/**
 * brig push [-q] NAME[:TAG]
 *
 * Pushes the image recorded under NAME to the registry NAME names. Pushing one platform to a tag
 * that holds a multi-platform index keeps the index's other platforms.
 */
import type { Command } from 'commander';
import { type ProgressEvent, pushImage } from '../../client/registry.ts';
import type { CliContext } from '../context.ts';
import { pushedText } from './registry-output.ts';
import { progressDisplay } from './registry-progress.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('push')
    .description('Push an image to a registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-q, --quiet', 'print only the pushed digest')
    .action(async (name: string, o: { quiet?: boolean }) => {
      const display = o.quiet ? undefined : progressDisplay('Uploading');
      let res: Awaited<ReturnType<typeof pushImage>>;
      try {
        res = await pushImage(
          ctx.client(),
          name,
          display ? (e: ProgressEvent) => display.update(e) : undefined,
        );
      } finally {
        display?.stop();
      }
      process.stdout.write(pushedText(res, o.quiet === true));
    });
}
