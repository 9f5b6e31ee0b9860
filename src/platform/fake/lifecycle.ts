/**
 * The end of a container's init process: the process leaves the process table, the container
 * (ocijail's record) becomes `stopped`, and conmon writes its exit files. Shared by ocijail kill,
 * jail -r (jail_remove kills every process with SIGKILL) and the host's exitProcess.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerState } from './host-state.ts';
import type { ToolContext } from './tool.ts';

/** Ends the init process of a container the way the kernel and conmon see it. */
export function endContainer(ctx: ToolContext, c: ContainerState, status: number): void {
  const st = ctx.st;
  const p = st.processes[String(c.pid)];
  // conmon reaps the process: it leaves the process table.
  if (p) delete st.processes[String(c.pid)];
  if (c.status === 'stopped') return;
  c.status = 'stopped';
  writeExitFiles(ctx, c, status);
}

export function writeExitFiles(ctx: ToolContext, c: ContainerState, status: number): void {
  const cm = c.conmon;
  if (!cm) return;
  const text = String(status);
  if (cm.persistDir) {
    const dir = cm.persistDir;
    ctx.effects.push(() => {
      mkdirSync(dir, { recursive: true });
      atomicWrite(join(dir, 'exit'), text);
    });
  }
  if (cm.exitDir) {
    const dir = cm.exitDir;
    ctx.effects.push(() => {
      mkdirSync(dir, { recursive: true });
      atomicWrite(join(dir, cm.cid), text);
    });
  }
}

function atomicWrite(file: string, text: string): void {
  // g_file_set_contents writes a temporary file and renames it, so a watcher never sees it half written.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
