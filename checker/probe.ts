// The shared probe: ONE run of the engine that many checks judge (namespaces, root, /proc, /dev, network, the
// cgroup's removal), so a full check starts the engine a dozen times instead of thirty. It prints what the
// container sees, then pauses while the checker reads the same facts from the host.
import fs from 'node:fs'
import path from 'node:path'
import { placement, readLimits, type CgroupLimits, type Placement } from './cgroups.ts'
import { cwdInsideRoot, devProblems, environmentOf, extraOpenFiles, procDevice, unexpectedMounts } from './containerfs.ts'
import { overlayLayers, type OverlayLayers } from './image.ts'
import {
  allProcs, descendants, hostHostname, mountsOf, nsLink, pidInsideNamespace, readText, sameFile, type MountEntry, type Namespace,
} from './proc.ts'
import { randomToken } from './random.ts'
import { signalsIn } from '../lib/signals.ts'
import { runEngine, type NetworkHost, type RunResult } from './runner.ts'

/** The probe pauses here until the checker has looked at it from the host. */
export const PAUSE = 'echo "@mc ready"; read _ignored'

/** Interface names in a /proc/net/dev text. */
export function interfaces(netDev: string | undefined): string[] {
  return (netDev ?? '')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean)
}

export const LIST_INTERFACES = `echo "@mc ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"`

/** What the host saw while the probe was paused. */
export interface HostView {
  pid: number
  /** Namespace links of the container's process and of the host (the checker). */
  ns: Record<Namespace, { inside: string; host: string }>
  /** The pid the process has in its own PID namespace (last NSpid field). */
  nsPid: number | undefined
  rootIsHosts: boolean
  /** /proc/<pid>/root/etc/os-release, read from the host. */
  osRelease: string | undefined
  procMounted: boolean
  /** The proc on the container's /proc is the host's own (the same superblock), not a fresh one. */
  procIsHosts: boolean
  /** Where the command's working directory is (undefined: the process was gone). */
  cwd: ReturnType<typeof cwdInsideRoot>
  /** What is wrong with the container's /dev (empty: nothing). */
  devProblems: string[]
  /** Mounts the command can reach that a container does not need. */
  unexpectedMounts: MountEntry[]
  /** Open files beyond 0, 1, 2. */
  openFiles: string[]
  /** The command's environment, from /proc/PID/environ. */
  environment: Map<string, string> | undefined
  /** The signals the command ignores (SigIgn of /proc/PID/status). */
  ignoredSignals: number[] | undefined
  /** The process's cgroup for each controller, and what the engine made (see cgroups.ts placement). */
  placement: Placement[] | undefined
  /** Live processes in the container's PID namespace. */
  processesInNamespace: number
  limits: CgroupLimits | undefined
  /** /proc/<pid>/net/dev and the local routes (fib_trie) of the container's network namespace. */
  netDev: string[]
  fibTrie: string
  hostHostname: string
  /** /proc/<pid>/root/.. is another folder than /proc/<pid>/root: there is a tree above the container's root. */
  rootHasParent: boolean
  /** The container's mount table, as the kernel shows it to the container (/proc/<pid>/mountinfo). */
  mounts: MountEntry[]
  /** The container's root mount (the topmost at "/"), and its layers when it is an overlay. */
  rootMount: MountEntry | undefined
  rootOverlay: (OverlayLayers & { upperDev?: number; workDev?: number }) | undefined
}

export interface SharedProbe {
  run: RunResult
  host: HostView | undefined
  /** The random --hostname given. */
  hostname: string
  /** The name of the random file put in the host's / during the run. */
  secret: string
  hostHostnameBefore: string
  hostHostnameAfter: string
  /** A random variable planted in the engine's environment: the command must not get it. */
  canary: { name: string; value: string }
}

/** Files the checker put on the host, removed even on Ctrl-C. */
export const hostFiles = new Set<string>()

export function removeHostFiles(): void {
  for (const file of hostFiles) fs.rmSync(file, { force: true })
  hostFiles.clear()
}

/** Everything the host can tell about the container's process `pid` (`runPids`: every process of its run). */
export function hostView(pid: number, runPids: number[] = [pid]): HostView {
  const ns = {} as HostView['ns']
  for (const name of ['pid', 'uts', 'ipc', 'mnt', 'net', 'cgroup'] as const) {
    ns[name] = { inside: nsLink(pid, name) ?? '?', host: nsLink('self', name) ?? '?' }
  }
  const pidNs = ns.pid.inside
  const mounts = mountsOf(pid) ?? []
  const rootMount = mounts.filter((m) => m.mountPoint === '/').at(-1)
  const layers = rootMount?.fsType === 'overlay' ? overlayLayers(rootMount.superOptions) : undefined
  const devOf = (dir: string | undefined) => (dir === undefined ? undefined : fs.statSync(dir, { throwIfNoEntry: false })?.dev)
  return {
    pid,
    ns,
    nsPid: pidInsideNamespace(pid),
    rootIsHosts: sameFile(`/proc/${pid}/root`, '/'),
    osRelease: readText(`/proc/${pid}/root/etc/os-release`),
    procMounted: (mountsOf(pid) ?? []).some((m) => m.mountPoint === '/proc' && m.fsType === 'proc'),
    procIsHosts: procDevice(pid) !== undefined && procDevice(pid) === procDevice('self'),
    cwd: cwdInsideRoot(pid),
    devProblems: devProblems(pid),
    unexpectedMounts: unexpectedMounts(pid),
    openFiles: extraOpenFiles(pid),
    environment: environmentOf(pid),
    ignoredSignals: signalsIn(pid, 'SigIgn'),
    placement: placement(pid, runPids),
    processesInNamespace: allProcs().filter((p) => p.state !== 'Z' && nsLink(p.pid, 'pid') === pidNs).length,
    limits: readLimits(pid),
    netDev: interfaces(readText(`/proc/${pid}/net/dev`)),
    fibTrie: readText(`/proc/${pid}/net/fib_trie`) ?? '',
    hostHostname: hostHostname(),
    // Walked from the host, ".." at the container's root goes up only if its mount namespace has something above it.
    rootHasParent: !sameFile(`/proc/${pid}/root/..`, `/proc/${pid}/root`),
    mounts,
    rootMount,
    rootOverlay: layers && { ...layers, upperDev: devOf(layers.upper), workDev: devOf(layers.work) },
  }
}

export function sharedProbeScript(secret: string): string {
  return [
    'echo "@mc pid=$$"',
    'echo "@mc hostname=$(cat /proc/sys/kernel/hostname)"',
    `echo "@mc id=$(grep '^ID=' /etc/os-release | cut -d= -f2)"`,
    `if [ -e /${secret} ]; then echo "@mc visible=yes"; else echo "@mc visible=no"; fi`,
    `echo "@mc pids=$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' ')"`,
    `echo "@mc init=$(tr '\\0' ' ' < /proc/1/cmdline)"`,
    'if [ -c /dev/null ]; then echo "@mc null=char"; echo probe > /dev/null && echo "@mc nullwrite=ok"; else echo "@mc null=missing"; fi',
    `if [ -c /dev/zero ]; then echo "@mc zero=$(head -c 8 /dev/zero | od -An -tx1 | tr -d ' \\n')"; else echo "@mc zero=missing"; fi`,
    LIST_INTERFACES,
    `echo "@mc sysnet=$(ls /sys/class/net 2>/dev/null | tr '\\n' ' ')"`,
    'ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1; echo "@mc ping=$?"',
    PAUSE,
  ].join('; ')
}

/** Runs the shared probe once: a random hostname, a random file on the host that must stay invisible. */
export async function runSharedProbe(engineDir: string, network?: NetworkHost): Promise<SharedProbe> {
  const hostname = randomToken('host')
  const secret = `.${randomToken('secret')}`
  const secretPath = path.join('/', secret)
  const hostHostnameBefore = hostHostname()
  const canary = { name: `MC_CANARY_${randomToken('x').slice(2).toUpperCase()}`, value: randomToken('canary') }
  let host: HostView | undefined
  hostFiles.add(secretPath)
  fs.writeFileSync(secretPath, 'host only\n')
  try {
    const run = await runEngine(engineDir, {
      flags: ['--hostname', hostname],
      script: sharedProbeScript(secret),
      env: { [canary.name]: canary.value },
      onReady: ({ pid, rootPid }) =>
        void (pid !== undefined && (host = hostView(pid, [rootPid, ...descendants(rootPid).map((p) => p.pid)]))),
    }, network)
    return { run, host, hostname, secret, hostHostnameBefore, hostHostnameAfter: hostHostname(), canary }
  } finally {
    fs.rmSync(secretPath, { force: true })
    hostFiles.delete(secretPath)
  }
}
