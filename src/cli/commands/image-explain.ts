/**
 * brig image explain IMAGE [--json]: what the image is, how to run it (entry points with usage,
 * parameters with required ones marked and secrets masked, volumes, ports) and each privilege
 * it requests, granted or refused on this host and why.
 */
import type { Command } from 'commander';
import { type Explanation, explainImage } from '../../client/privileges.ts';
import { type CliContext, collect } from '../context.ts';
import { printJson } from '../output.ts';

export function formatExplanation(e: Explanation): string {
  const out: string[] = [];
  const p = (s = '') => out.push(s);
  p(`Image:     ${e.names.join(', ') || '<none>'}`);
  p(`Id:        ${e.id}`);
  p(`Digest:    ${e.digest}`);
  p(`Platform:  ${e.platform}`);
  if (e.description) p(`\n${e.description}`);
  if (e.entrypoints.length) {
    p('\nEntry points:');
    for (const x of e.entrypoints) {
      p(`  ${x.name}${x.default ? ' (default)' : ''}: ${x.args.join(' ')}`);
      if (x.description) p(`      ${x.description}`);
      if (x.usage) for (const l of x.usage.split('\n')) p(`      usage: ${l}`);
    }
  }
  if (e.parameters.length) {
    p('\nParameters (-e NAME=VALUE):');
    for (const x of e.parameters) {
      const tags = [x.required ? 'required' : undefined, x.secret ? 'secret' : undefined].filter(Boolean);
      p(
        `  ${x.name}${tags.length ? ` [${tags.join(', ')}]` : ''}${x.default !== undefined ? ` (default: ${x.default})` : ''}${x.description ? `: ${x.description}` : ''}`,
      );
    }
  }
  if (e.volumes.length) {
    p('\nVolumes (-v SOURCE:DESTINATION):');
    for (const x of e.volumes) {
      const tags = [x.required ? 'required' : undefined, x.readOnly ? 'read-only' : undefined].filter(
        Boolean,
      );
      p(
        `  ${x.name} at ${x.destination}${tags.length ? ` [${tags.join(', ')}]` : ''}${x.description ? `: ${x.description}` : ''}`,
      );
    }
  }
  if (e.ports.length) {
    p('\nPorts:');
    for (const x of e.ports) p(`  ${x.port}${x.description ? `: ${x.description}` : ''}`);
  }
  p('\nPrivileges on this host:');
  if (e.privileges.length === 0) p('  none requested');
  for (const x of e.privileges) p(`  ${x.granted ? 'granted' : 'REFUSED'}  ${x.item}: ${x.why}`);
  for (const n of e.platformNotes) p(`  note: ${n}`);
  p(
    e.runnable
      ? '\nThis host runs it without --grant.'
      : '\nThis host refuses it: extend the policy or pass --grant for each refused privilege.',
  );
  return `${out.join('\n')}\n`;
}

/** Registered under `brig image` by ./image.ts. */
export function registerExplain(image: Command, ctx: CliContext): void {
  image
    .command('explain')
    .description('Explain an image: how to run it and what it may do on this host')
    .argument('<image>')
    .option(
      '--grant <priv>',
      'decide as a run with this --grant (repeatable; administrators only)',
      collect,
      [],
    )
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean; grant: string[] }) => {
      const e = await explainImage(ctx.client(), name, o.grant);
      if (o.json) return printJson(e);
      process.stdout.write(formatExplanation(e));
    });
}
