/**
 * brig run [flags] IMAGE [COMMAND [ARG...]]
 *   -d: start and print the id. Otherwise the container's output is shown (with -i/-t through
 *   the attach stream, else from its log) and brig exits with the container's status; 125 when
 *   brig itself fails (also when the container fails to start), but as docker's run (-d or not):
 *   127 when the command does not exist in the container, 126 when it cannot be run, with
 *   `Error: CMD: why` (commandExitStatus).
 *   --dry-run: print the plan of host commands and the config.json, do nothing.
 */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import { BrigError, isBrigError } from '../../errors/errors.ts';
import type { CliContext } from '../context.ts';
import { reportError } from '../report.ts';
import { addCreateFlags, type CreateFlags, createBody } from './container-flags.ts';
import { relay } from './container-io.ts';
import { openRunStream } from './run-stream.ts';

export function register(program: Command, ctx: CliContext): void {
  addCreateFlags(
    program
      .command('run')
      .description('Create and start a container')
      .argument('<image>')
      .argument('[command...]')
      .option('-d, --detach', 'run in the background and print the container id')
      .option('--dry-run', 'print what would be done (host commands, config.json) and do nothing')
      .option('--json', 'with --dry-run: print the plan as JSON')
      .passThroughOptions(),
  ).action((image: string, command: string[], o: RunFlags) => runAction(ctx, image, command, o));
}

export type RunFlags = CreateFlags & { detach?: boolean; dryRun?: boolean; json?: boolean };

/** The run verb itself (also called by ./run-fast.ts, which parses without commander). */
export async function runAction(
  ctx: CliContext,
  image: string,
  command: string[],
  o: RunFlags,
): Promise<void> {
  const body = createBody(image, command, o);
  if (o.dryRun) {
    const client = ctx.client();
    const {
      mounts: _m,
      restart: _r,
      autoRemove: _a,
      labels: _l,
      stdin: _s,
      stopSignal: _ss,
      stopTimeout: _st,
      ...req
    } = body;
    // loaded only here: the plan's formatting pulls in child_process (a few ms of start-up)
    const [{ planRun }, { printJson }, { formatPlan }] = await Promise.all([
      import('../../client/plans.ts'),
      import('../output.ts'),
      import('../plan-output.ts'),
    ]);
    const plan = await planRun(client, req);
    if (o.json) printJson(plan);
    else process.stdout.write(formatPlan(plan));
    return;
  }
  if (o.detach && o.rm === true && o.restart && o.restart !== 'no') {
    throw new BrigError('ERR_INVALID_ARGUMENT', '--rm and --restart cannot be combined');
  }
  await withCommandStatus(ctx, async () => {
    if (o.detach) {
      const client = ctx.client();
      const c = await containers.create(client, body);
      await containers.start(client, c.id);
      process.stdout.write(`${c.id}\n`);
      return;
    }
    // one round trip: brigd creates, attaches before the process starts (no output is lost,
    // even from a --rm container), starts, streams, and ends with the exit status once a --rm
    // container is removed (also when it could not start: docker's rule); on a plain socket
    // (./run-stream.ts), which answers as containers.run does
    const { socket, head } = await openRunStream(ctx.socketPath(), body);
    const code = await relay(socket, head, { tty: o.tty === true, stdin: o.interactive === true });
    if (code === undefined) {
      throw new BrigError('ERR_DAEMON_UNAVAILABLE', 'brigd closed the stream before the container exited');
    }
    ctx.exitCode = code;
  });
}

/**
 * docker's exit status for a container whose command could not be started: 127 (not found),
 * 126 (cannot be run), from brigd's ERR_CONTAINER_COMMAND_NOT_FOUND / ERR_CONTAINER_COMMAND_NOT_EXECUTABLE
 * (`details.exitCode`); undefined for any other error.
 */
export function commandExitStatus(e: unknown): 126 | 127 | undefined {
  if (isBrigError(e, 'ERR_CONTAINER_COMMAND_NOT_FOUND')) return e.details?.exitCode === 126 ? 126 : 127;
  if (isBrigError(e, 'ERR_CONTAINER_COMMAND_NOT_EXECUTABLE')) return e.details?.exitCode === 127 ? 127 : 126;
  return undefined;
}

/** Runs `op`; a command that could not be started is reported and ends brig with 127/126. */
export async function withCommandStatus(ctx: CliContext, op: () => Promise<void>): Promise<void> {
  try {
    await op();
  } catch (e) {
    const status = commandExitStatus(e);
    if (status === undefined) throw e;
    reportError(e);
    ctx.exitCode = status;
  }
}
