// The workshop's steps, in order: the one list that the checker, the lesson commands and the
// starter generator all read. Adding a step = a folder under solutions/ and steps/, its checks
// (checker/checks/NN-name.ts) and an entry here.
import { fileURLToPath } from 'node:url'
import path from 'node:path'

export interface Step {
  /** Folder name under steps/ and solutions/, e.g. "03-cgroups". */
  id: string
  /** 1-based position, e.g. 3. */
  number: number
  title: string
  /** The kernel feature the learner adds in this step, one line. */
  summary: string
}

export const STEPS: readonly Step[] = [
  { id: '01-namespaces', number: 1, title: 'Namespaces', summary: 'PID, UTS, mount and IPC namespaces: the command becomes PID 1 with its own hostname' },
  { id: '02-chroot', number: 2, title: 'A root filesystem', summary: 'chroot into Alpine, mount /proc and a minimal /dev' },
  { id: '03-cgroups', number: 3, title: 'cgroups', summary: 'a cgroup per container: memory (no swap), CPU and pids limits, OOM reporting' },
  { id: '04-network', number: 4, title: 'A network namespace', summary: 'a network namespace with only the loopback interface, brought up' },
  { id: '05-pivot-root', number: 5, title: 'pivot_root', summary: "pivot_root into the rootfs, the host's tree unmounted, no inherited descriptor: a root nothing walks out of" },
  { id: '06-overlayfs', number: 6, title: 'overlayfs', summary: 'a read-only image under a writable layer per container, and volumes (--volume)' },
  { id: '07-security', number: 7, title: 'Security', summary: "capabilities dropped to docker's set minus MKNOD, a seccomp filter, a cgroup namespace, /proc, /sys and cgroupfs locked: the escapes of step 06 refused" },
  { id: '08-networking', number: 8, title: 'Networking', summary: 'a veth pair to a host bridge, an address and a default route, NAT out and published ports in' },
  { id: '09-images', number: 9, title: 'Images', summary: "pull an OCI image from a registry: this machine's manifest, every blob verified, its layers as the overlay's lower layers, its config applied" },
]

/** The repository's root folder. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** A path as the learner would type it: relative inside the project ("." for its root), absolute outside. */
export function projectPath(file: string): string {
  const rel = path.relative(PROJECT_ROOT, file)
  if (rel === '') return '.'
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel
}

/**
 * Finds a step from what a person types: "3", "03", "step-03", "step03", "03-cgroups", "cgroups".
 * Returns undefined when nothing matches.
 */
export function findStep(input: string): Step | undefined {
  const text = input.trim().toLowerCase().replace(/^step[-_ ]?/, '')
  if (/^\d+$/.test(text)) return STEPS.find((s) => s.number === Number(text))
  return STEPS.find((s) => s.id === text || s.id.slice(3) === text)
}

export function stepDir(step: Step, kind: 'steps' | 'solutions'): string {
  return path.join(PROJECT_ROOT, kind, step.id)
}
