// What a machine needs before it can run containers at all: the Linux kernel, and root. One answer for the engine,
// the checker, doctor, the VM path, the installer, bench and the tests. Root means the EFFECTIVE user id: it is
// what the kernel checks (with the capabilities that come with it), whatever the real one is.
import os from 'node:os'

export function platformName(platform = os.platform()): string {
  return ({ darwin: 'macOS', win32: 'Windows', linux: 'Linux' } as Record<string, string>)[platform] ?? platform
}

export function isLinux(): boolean {
  return os.platform() === 'linux'
}

export function isRoot(): boolean {
  return process.geteuid?.() === 0
}

export interface HostProblem {
  /** One line: what is missing. */
  problem: string
  /** What to do about it. */
  fix: string
}

/** Why this machine cannot run containers itself (then the workshop VM can), or undefined. */
export function containerHostProblem(): HostProblem | undefined {
  if (!isLinux()) return { problem: `containers need the Linux kernel, and this is ${platformName()}`, fix: 'work inside the workshop VM: see vagrant/README.md (`vagrant up`, then `vagrant ssh`)' }
  if (!isRoot()) return { problem: 'creating namespaces, mounts and cgroups needs root', fix: 'run it with sudo' }
  return undefined
}
