/**
 * brigd [--root DIR] [--config FILE] [--socket PATH] [--platform linux|freebsd|freebsd-simulated]
 * Runs in the foreground; SIGTERM/SIGINT shut it down cleanly (containers keep running).
 */
import { parseArgs } from 'node:util';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { VERSION } from '../version.ts';
import { type PlatformName, startDaemon } from './daemon.ts';

const USAGE = `usage: brigd [--root DIR] [--config FILE] [--socket PATH] [--platform linux|freebsd|freebsd-simulated]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      root: { type: 'string' },
      config: { type: 'string' },
      socket: { type: 'string' },
      platform: { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.version) {
    console.log(`brigd ${VERSION}`);
    return;
  }
  const platform = values.platform as PlatformName | undefined;
  if (platform !== undefined && !['linux', 'freebsd', 'freebsd-simulated'].includes(platform)) {
    throw new BrigError(
      'ERR_INVALID_ARGUMENT',
      `--platform ${platform}: expected linux, freebsd or freebsd-simulated`,
    );
  }
  // The handlers go in before the start: the socket answers before startDaemon() returns (its
  // mode is set after listen), and a SIGTERM in that gap must stop brigd cleanly, not kill it.
  let d: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let received: string | undefined;
  const stop = (sig: string) => {
    if (received !== undefined) return;
    received = sig;
    if (d) shutDown(d, sig);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () =>
    d?.services.log('info', 'SIGHUP ignored: restart brigd to reload its configuration'),
  );
  d = await startDaemon({
    root: values.root,
    configFile: values.config,
    socket: values.socket,
    platform,
  });
  if (received !== undefined) shutDown(d, received);
}

function shutDown(d: Awaited<ReturnType<typeof startDaemon>>, sig: string): void {
  d.services.log('info', `received ${sig}`);
  d.stop().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

main().catch((e) => {
  if (isBrigError(e)) {
    console.error(`brigd: ${e.message} (${e.code})`);
    if (e.hint) console.error(`hint: ${e.hint}`);
  } else if ((e as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    console.error(`brigd: ${(e as Error).message}\n${USAGE}`);
  } else {
    console.error('brigd:', e);
  }
  process.exit(1);
});
