/**
 * `brig push` and `brig pull` without commander (loading the program — commander and every
 * verb — is ~20 ms of a CLI start): a parser for their common forms only. It returns undefined —
 * and main.ts then uses commander — for anything it does not know: --help, unknown flags, `--`,
 * a second argument, a --platform value that starts with a dash. For what it accepts it gives
 * what commander gives with ./push.ts and ./pull.ts (registry-fast.test.ts compares them), and it
 * prints what those commands print. The progress display (cli-progress) is loaded only when
 * there is one to show (not with -q).
 *
 * Forms: `[-H|--host H] push [-q|--quiet] NAME`,
 *        `[-H|--host H] pull [-q|--quiet] [--platform P] [--no-unpack] NAME` (flags before or
 *        after NAME, as commander takes them).
 */
import { BrigClient, socketFromHost } from '../../client/client.ts';
import { type ProgressEvent, pullImage, pushImage } from '../../client/registry.ts';
import { reportError } from '../report.ts';

export type FastRegistryCommand =
  | { verb: 'push'; host?: string; name: string; quiet: boolean }
  | { verb: 'pull'; host?: string; name: string; quiet: boolean; platform?: string; unpack: boolean };

/** `args`: process.argv without node and the script. */
export function parseRegistryCommand(args: readonly string[]): FastRegistryCommand | undefined {
  let i = 0;
  let host: string | undefined;
  for (; i < args.length && args[i] !== 'push' && args[i] !== 'pull'; i++) {
    const a = args[i]!;
    if ((a === '-H' || a === '--host') && i + 1 < args.length && !args[i + 1]!.startsWith('-'))
      host = args[++i];
    else if (a.startsWith('--host=')) host = a.slice('--host='.length);
    else return undefined;
  }
  const verb = args[i];
  if (verb !== 'push' && verb !== 'pull') return undefined;
  let name: string | undefined;
  let quiet = false;
  let platform: string | undefined;
  let unpack = true;
  for (i++; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-q' || a === '--quiet') quiet = true;
    else if (verb === 'pull' && a === '--no-unpack') unpack = false;
    else if (verb === 'pull' && a.startsWith('--platform=')) platform = a.slice('--platform='.length);
    else if (verb === 'pull' && a === '--platform') {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('-')) return undefined;
      platform = next;
      i++;
    } else if (a.startsWith('-') || name !== undefined) return undefined;
    else name = a;
  }
  if (name === undefined) return undefined;
  const h = host !== undefined ? { host } : {};
  if (verb === 'push') return { verb, ...h, name, quiet };
  return { verb, ...h, name, quiet, ...(platform !== undefined ? { platform } : {}), unpack };
}

/** Runs `brig push` / `brig pull` when parseRegistryCommand accepts the arguments; undefined otherwise. */
export function registryFast(args: readonly string[]): Promise<number> | undefined {
  const p = parseRegistryCommand(args);
  if (!p) return undefined;
  return run(p).then(
    () => 0,
    (e: unknown) => reportError(e),
  );
}

async function run(p: FastRegistryCommand): Promise<void> {
  const client = new BrigClient(socketFromHost(p.host ?? process.env.BRIG_HOST));
  const display = p.quiet
    ? undefined
    : (await import('./registry-progress.ts')).progressDisplay(
        p.verb === 'push' ? 'Uploading' : 'Downloading',
      );
  const onProgress = display ? (e: ProgressEvent) => display.update(e) : undefined;
  if (p.verb === 'push') {
    let res: Awaited<ReturnType<typeof pushImage>>;
    try {
      res = await pushImage(client, p.name, onProgress);
    } finally {
      display?.stop();
    }
    if (p.quiet) {
      process.stdout.write(`${res.digest}\n`);
      return;
    }
    if (res.keptPlatforms?.length)
      process.stdout.write(`Kept in the index: ${res.keptPlatforms.join(', ')}\n`);
    process.stdout.write(`Pushed ${res.name}\nDigest: ${res.digest} (${res.mediaType}, ${res.size} bytes)\n`);
    return;
  }
  const opts = {
    ...(p.platform !== undefined ? { platform: p.platform } : {}),
    ...(p.unpack ? {} : { unpack: false }),
  };
  let res: Awaited<ReturnType<typeof pullImage>>;
  try {
    res = await pullImage(client, p.name, opts, onProgress);
  } finally {
    display?.stop();
  }
  if (p.quiet) {
    process.stdout.write(`${res.name}\n`);
    return;
  }
  process.stdout.write(`Digest: ${res.manifestDigest}\nPlatform: ${res.platform}\nPulled ${res.name}\n`);
}
