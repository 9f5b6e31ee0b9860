/**
 * brig images [REPOSITORY[:TAG]] [--json] [-q] [--digests]: the same as `brig image ls`.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { listAction } from './image.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('images')
    .description('List images (of REPOSITORY, and TAG, when given)')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print image ids only')
    .option('--digests', 'show the digests the registry gave (pull, push)')
    .action((repo: string | undefined, o: { json?: boolean; quiet?: boolean; digests?: boolean }) =>
      listAction(ctx, o, repo),
    );
}
