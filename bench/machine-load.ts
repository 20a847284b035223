/**
 * How busy the whole machine was over a bench step: every process counts (ours, the engine,
 * radosgw, the kernel's work for them), from /proc/stat, with the share the host stole (a
 * KVM guest's `steal`). A step whose cores were all busy is the machine's floor; one with
 * cores to spare waits on something else.
 */
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

/** Jiffies from /proc/stat's `cpu` line: busy (user, nice, system, irq, softirq), stolen by the host, and all. */
export interface Jiffies {
  busy: number;
  steal: number;
  all: number;
}

export async function jiffies(): Promise<Jiffies> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  // user nice system idle iowait irq softirq steal (guest time is counted in user already)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number) as number[];
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0);
  return { busy, steal: steal ?? 0, all: busy + (idle ?? 0) + (iowait ?? 0) + (steal ?? 0) };
}

/** How loaded the machine was between two readings: cores busy (of cpus().length), and the share the host stole. */
export interface Load {
  cores: number;
  stolen: number;
}

export const machineLoad = (from: Jiffies, to: Jiffies): Load => {
  const all = Math.max(1, to.all - from.all);
  return { cores: ((to.busy - from.busy) / all) * cpus().length, stolen: (to.steal - from.steal) / all };
};
