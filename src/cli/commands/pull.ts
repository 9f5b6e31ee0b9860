/**
 * brig pull [--platform OS/ARCH[/VARIANT]] [--no-unpack] [-q] NAME[:TAG|@DIGEST]
 *
 * brigd unpacks the layers into its snapshotter as they arrive (the first run has nothing left
 * to unpack); --no-unpack only fetches the blobs into the content store (API body `unpack: false`).
 * On a terminal: one live bar per layer. Otherwise: one plain line per change of a layer's state.
 * With -q: only the image name at the end.
 */
import type { Command } from 'commander';
import { pullImage } from '../../client/registry.ts';
import type { CliContext } from '../context.ts';
import { pulledText } from './registry-output.ts';
import { withProgress } from './registry-progress.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('pull')
    .description('Pull an image from a registry')
    .argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option(
      '--platform <os/arch[/variant]>',
      'platform to pull from a multi-platform image (default: the host’s)',
    )
    .option('--no-unpack', 'only fetch the blobs; layers are unpacked when a container first needs them')
    .option('-q, --quiet', 'print only the image name')
    .action(async (name: string, o: { platform?: string; unpack: boolean; quiet?: boolean }) => {
      const res = await withProgress('Downloading', o.quiet, (onProgress) =>
        pullImage(
          ctx.client(),
          name,
          { ...(o.platform ? { platform: o.platform } : {}), ...(o.unpack ? {} : { unpack: false }) },
          onProgress,
        ),
      );
      process.stdout.write(pulledText(res, o.quiet === true));
    });
}
