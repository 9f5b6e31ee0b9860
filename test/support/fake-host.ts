/**
 * The simulated FreeBSD host (src/platform/fake) driven as a shell would drive it, for the fake
 * tools' unit tests: a command's exit code and its output as text, a non-zero exit not thrown.
 */
import { type HostConfig, SimulatedFreeBSDHost } from '../../src/platform/fake/index.ts';

export interface Ran {
  code: number;
  out: string;
  err: string;
}

/** `run(cmd, ...args)` and `input(stdin, cmd, ...args)` on `h`. */
export function shellOf(h: SimulatedFreeBSDHost) {
  const exec = async (cmd: string, args: string[], input?: string): Promise<Ran> => {
    const r = await h.run(cmd, args, input === undefined ? { check: false } : { check: false, input });
    return { code: r.code, out: r.stdout.toString(), err: r.stderr.toString() };
  };
  return {
    run: (cmd: string, ...args: string[]) => exec(cmd, args),
    input: (stdin: string, cmd: string, ...args: string[]) => exec(cmd, args, stdin),
  };
}

/** A new simulated host of `config`, with its shell. */
export function simulatedHost(config: HostConfig = {}) {
  const h = new SimulatedFreeBSDHost(config);
  return { h, ...shellOf(h) };
}
