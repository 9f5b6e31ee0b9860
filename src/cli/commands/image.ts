/**
 * brig image import SOURCE|- [NAME[:TAG]] [--ref NAME] [--platform OS/ARCH[/VARIANT]]   (-: stdin)
 * brig image export IMAGE DEST            (DEST ending in .tar: OCI archive; else OCI layout dir)
 * brig image unpack IMAGE DIR
 * brig image ls [REPOSITORY[:TAG]] [--json] [-q] [--digests] (also `brig images`)
 * brig image inspect IMAGE...
 * brig image tag SOURCE TARGET
 * brig image rm [-f] IMAGE...
 * brig image prune [-a]
 * brig image explain IMAGE [--json]      (./image-explain.ts)
 * Relative paths are resolved against the client's working directory before they are sent: the
 * daemon reads and writes them on its host.
 */
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import {
  exportImage,
  type ImageDetails,
  type ImageSummary,
  importImage,
  importImageArchive,
  inspectImage,
  listImages,
  pruneImages,
  removeImage,
  tagImage,
  unpackImage,
} from '../../client/images.ts';
import { BrigError } from '../../errors/errors.ts';
import { familiarRepository, parseReference } from '../../images/reference.ts';
import { type CliContext, eachName } from '../context.ts';
import { formatAgo, formatSize, printJson, printTable, shortId } from '../output.ts';
import { registerExplain } from './image-explain.ts';

interface Row {
  repository: string;
  tag: string;
  /** The DIGEST column: a digest name's digest of this repository (REPO@DIGEST), or <none>. */
  digest: string;
  /** Every digest this row stands for (what `brig images REPO@DIGEST` matches). */
  digests: string[];
  image: ImageSummary;
}

/**
 * The rows docker lists: one per REPO:TAG; a repository of the image with digest names
 * (REPO@DIGEST: pulled or pushed) but no tag gives one row with tag <none>. A digest name never
 * adds a row of its own beside a tag. With `digests` (--digests), a tag known under several digests
 * gives one row per digest, and so does a repository without a tag.
 */
export function rows(images: ImageSummary[], digests = false): Row[] {
  const out: Row[] = [];
  for (const image of images) {
    if (image.names.length === 0) {
      out.push({ repository: '<none>', tag: '<none>', digest: '<none>', digests: [], image });
      continue;
    }
    const repos = new Map<string, { tags: string[]; digests: string[] }>();
    for (const r of image.names.map(parseReference)) {
      const repository = familiarRepository(r);
      const e = repos.get(repository) ?? { tags: [], digests: [] };
      repos.set(repository, e);
      if (r.digest !== undefined) e.digests.push(r.digest);
      else if (r.tag !== undefined) e.tags.push(r.tag);
    }
    for (const [repository, e] of repos) {
      const tags = e.tags.length ? e.tags : ['<none>'];
      for (const tag of tags) {
        if (digests && e.digests.length > 1) {
          for (const d of e.digests) out.push({ repository, tag, digest: d, digests: [d], image });
        } else {
          out.push({ repository, tag, digest: e.digests[0] ?? '<none>', digests: e.digests, image });
        }
      }
    }
  }
  return out;
}

/**
 * The rows `brig images REPO[:TAG]` keeps, as docker filters them: REPO's rows, of every tag unless
 * TAG (or @DIGEST) is given. REPO is read as a pull reads it (busybox is docker.io/library/busybox).
 */
export function rowFilter(filter: string): (r: Row) => boolean {
  const ref = parseReference(filter);
  const repository = familiarRepository(ref);
  const tagged = /:[^/]*$/.test(filter.split('@')[0]!);
  return (r) =>
    r.repository === repository &&
    (!tagged || r.tag === ref.tag) &&
    (ref.digest === undefined || r.digests.includes(ref.digest));
}

/** `brig images [REPO[:TAG]]` and `brig image ls [REPO[:TAG]]`. */
export async function listAction(
  ctx: CliContext,
  o: { json?: boolean; quiet?: boolean; digests?: boolean },
  filter?: string,
): Promise<void> {
  const keep = filter === undefined ? undefined : rowFilter(filter);
  const all = await listImages(ctx.client());
  const table = keep ? rows(all, o.digests).filter(keep) : rows(all, o.digests);
  const images = keep ? all.filter((i) => table.some((r) => r.image === i)) : all;
  if (o.json) return printJson(images);
  if (o.quiet) {
    for (const i of images) process.stdout.write(`${shortId(i.id)}\n`);
    return;
  }
  printTable<Row>(table, [
    { header: 'REPOSITORY', get: (r) => r.repository },
    { header: 'TAG', get: (r) => r.tag },
    ...(o.digests ? [{ header: 'DIGEST', get: (r: Row) => r.digest }] : []),
    { header: 'IMAGE ID', get: (r) => shortId(r.image.id) },
    { header: 'CREATED', get: (r) => (r.image.created ? formatAgo(Date.parse(r.image.created)) : '') },
    { header: 'PLATFORM', get: (r) => r.image.platform },
    { header: 'SIZE', get: (r) => formatSize(r.image.size) },
  ]);
}

/**
 * `brig image import -` (as `docker load < FILE`): the archive on stdin is sent to brigd in the
 * request body, so brigd needs no access to this machine's files (it may be elsewhere, behind a
 * forwarded socket). Nothing is written here. Interrupting brig closes the connection, and brigd
 * cancels and undoes the import. A terminal or an empty stdin is refused before brigd is asked.
 */
async function stdinArchive(): Promise<Readable> {
  const hint = 'Send the archive on stdin: brig image import - < image.tar';
  if (process.stdin.isTTY) {
    throw new BrigError('ERR_INVALID_ARGUMENT', 'brig image import -: stdin is a terminal', { hint });
  }
  const chunks = (process.stdin as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await chunks.next();
  if (first.done) throw new BrigError('ERR_IMAGE_SOURCE', 'brig image import -: stdin is empty', { hint });
  return Readable.from(
    (async function* () {
      yield first.value;
      for (let c = await chunks.next(); !c.done; c = await chunks.next()) yield c.value;
    })(),
    { objectMode: false },
  );
}

export function register(program: Command, ctx: CliContext): void {
  const image = program.command('image').description('Manage images');
  registerExplain(image, ctx); // brig image explain (src/cli/commands/image-explain.ts)

  image
    .command('import')
    .description(
      'Import an OCI layout, OCI archive, docker-archive or root filesystem (directory or tarball)',
    )
    .argument('<source>', 'a path, or - for an archive on stdin')
    .argument('[name]', 'NAME[:TAG] to give the image')
    .option('--ref <name>', 'pick one image out of a source that holds several')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: the host’s)')
    .option('-q, --quiet', 'print the image id only')
    .action(
      async (
        source: string,
        name: string | undefined,
        o: { ref?: string; platform?: string; quiet?: boolean },
      ) => {
        const opts = {
          ...(name ? { name } : {}),
          ...(o.ref ? { ref: o.ref } : {}),
          ...(o.platform ? { platform: o.platform } : {}),
        };
        const r =
          source === '-'
            ? await importImageArchive(ctx.client(), await stdinArchive(), opts)
            : await importImage(ctx.client(), resolve(source), opts);
        // what this import named, not every name the image already had
        if (!o.quiet && r.name !== undefined) process.stdout.write(`Imported ${r.name}\n`);
        process.stdout.write(`${r.id}\n`);
      },
    );

  image
    .command('export')
    .description('Write an image as an OCI layout directory, or an OCI archive when DEST ends in .tar')
    .argument('<image>')
    .argument('<dest>')
    .action(async (name: string, dest: string) => {
      const r = await exportImage(ctx.client(), name, resolve(dest));
      process.stdout.write(`${r.path}${r.refName ? ` (ref ${r.refName})` : ''}\n`);
    });

  image
    .command('unpack')
    .description('Unpack an image’s root filesystem into DIR (absent or empty), as umoci unpack does')
    .argument('<image>')
    .argument('<dir>')
    .action(async (name: string, dir: string) => {
      const r = await unpackImage(ctx.client(), name, resolve(dir));
      process.stdout.write(`${r.path}\n`);
    });

  image
    .command('ls')
    .alias('list')
    .description('List images (of REPOSITORY, and TAG, when given)')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print image ids only')
    .option('--digests', 'show the digests the registry gave (pull, push)')
    .action((repo: string | undefined, o: { json?: boolean; quiet?: boolean; digests?: boolean }) =>
      listAction(ctx, o, repo),
    );

  image
    .command('inspect')
    .description('Show images as JSON (manifest, config, brig section, layers, size, names)')
    .argument('<images...>')
    .action(async (names: string[]) => {
      const out: ImageDetails[] = [];
      await eachName(ctx, names, async (n) => {
        out.push(await inspectImage(ctx.client(), n));
      });
      printJson(out);
    });

  image
    .command('tag')
    .description('Give an image another name')
    .argument('<source>')
    .argument('<target>')
    .action(async (source: string, target: string) => {
      await tagImage(ctx.client(), source, target);
    });

  image
    .command('rm')
    .alias('remove')
    .description('Remove image names; an image goes with its last name (refused while a container uses it)')
    .argument('<images...>')
    .option(
      '-f, --force',
      'remove even if a container uses it (the image stays, unnamed) or it has several names',
    )
    .action(async (names: string[], o: { force?: boolean }) => {
      await eachName(ctx, names, async (n) => {
        const r = await removeImage(ctx.client(), n, { force: o.force === true });
        for (const u of r.untagged) process.stdout.write(`Untagged: ${u}\n`);
        for (const d of r.deleted) process.stdout.write(`Deleted: ${d}\n`);
        if (r.blobsRemoved || r.layersRemoved) {
          process.stdout.write(
            `Reclaimed: ${formatSize(r.bytesReclaimed)} (${r.blobsRemoved} blobs, ${r.layersRemoved} layer snapshots)\n`,
          );
        }
      });
    });

  image
    .command('prune')
    .description('Remove unnamed images no container uses (with -a: every image no container uses)')
    .option('-a, --all', 'also named images')
    .option('-f, --force', 'accepted for compatibility (brig does not ask)')
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const r = await pruneImages(ctx.client(), { all: o.all === true });
      if (o.json) return printJson(r);
      for (const u of r.untagged) process.stdout.write(`Untagged: ${u}\n`);
      for (const d of r.deleted) process.stdout.write(`Deleted: ${d}\n`);
      process.stdout.write(`Total reclaimed space: ${formatSize(r.bytesReclaimed)}\n`);
    });
}
