// Broken engines ("mutants") that prove each check can fail: a copy of a step's solution with one small
// textual change. A replacement that no longer matches the solution's text exactly once throws, so a
// mutant cannot silently rot into the unchanged (passing) solution when the solution is edited.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PROJECT_ROOT } from '../../lib/steps.ts'

export interface Mutant {
  id: string
  /** What the learner would have got wrong. */
  description: string
  /** The solution copied: solutions/<step>. */
  step: string
  /** file -> [find, replace] pairs; each `find` must occur exactly once in that file. */
  edits: Record<string, [string, string][]>
  /** The checks that must catch it (fail). */
  caughtBy: string[]
  /** The checks to run (default: caughtBy). */
  only?: string[]
  /** Extra environment for the checker (e.g. a shorter timeout for a hang). */
  env?: Record<string, string>
}

const NET = '04-network'
const NETWORKING = '08-networking'

export const MUTANTS: Mutant[] = [
  {
    id: 'no-newpid',
    description: 'no PID namespace: unshare(CLONE_NEWPID) left out',
    step: NET,
    edits: { 'namespaces.ts': [['  unshare(CLONE_NEWPID)\n', '  void CLONE_NEWPID\n']] },
    caughtBy: ['01.pid1'],
  },
  {
    id: 'hostname-without-uts',
    description: 'sethostname without a UTS namespace: renames the host',
    step: NET,
    edits: { 'namespaces.ts': [['unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)', 'unshare(CLONE_NEWNS | CLONE_NEWIPC)']] },
    caughtBy: ['01.host-hostname', '01.hostname', 'host.clean'],
  },
  {
    id: 'no-private',
    description: 'no MS_PRIVATE: mounts propagate to a shared host',
    step: NET,
    edits: { 'namespaces.ts': [["mount(null, '/', null, MS_REC | MS_PRIVATE)", 'void [MS_REC, MS_PRIVATE]']] },
    caughtBy: ['01.mount', '02.no-mounts-left'],
  },
  {
    id: 'no-mount-namespace',
    description: 'no mount namespace at all: /dev and /proc are mounted on the host (the checker must unmount them)',
    step: NET,
    edits: { 'namespaces.ts': [['unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)', 'unshare(CLONE_NEWUTS | CLONE_NEWIPC)']] },
    caughtBy: ['01.mount', '02.no-mounts-left', 'host.clean'],
  },
  {
    id: 'no-ipc',
    description: 'no IPC namespace',
    step: NET,
    edits: { 'namespaces.ts': [['unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)', 'unshare(CLONE_NEWNS | CLONE_NEWUTS)']] },
    caughtBy: ['01.ipc'],
  },
  {
    id: 'hard-coded-hostname',
    description: 'the hostname hard-coded to "container"',
    step: NET,
    edits: { 'namespaces.ts': [['sethostname(hostname)', "sethostname('container')"]] },
    caughtBy: ['01.hostname'],
  },
  {
    id: 'no-chroot',
    description: 'no chroot: the command sees the host\'s files',
    step: NET,
    edits: { 'rootfs.ts': [['chroot(rootfs)', 'void rootfs']] },
    caughtBy: ['02.rootfs', '02.host-file'],
  },
  {
    id: 'no-proc',
    description: 'no /proc mounted',
    step: NET,
    edits: { 'rootfs.ts': [["mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)", 'void MS_NODEV']] },
    caughtBy: ['02.proc'],
  },
  {
    id: 'no-dev',
    description: 'Alpine\'s empty /dev left as it is',
    step: NET,
    edits: { 'rootfs.ts': [['  populateDev(rootfs)\n', '']] },
    caughtBy: ['02.dev'],
  },
  {
    id: 'memory-limit-wrong-file',
    description: 'the memory limit written to a file that limits nothing (soft limit / memory.high)',
    step: NET,
    edits: {
      'cgroups.ts': [
        ["writeCgroupFile(cgroup.memory, 'memory.max', limits.memoryBytes)", "writeCgroupFile(cgroup.memory, 'memory.high', 'max')"],
        ["'memory.limit_in_bytes', limits.memoryBytes)", "'memory.soft_limit_in_bytes', limits.memoryBytes)"],
        ["'memory.memsw.limit_in_bytes', limits.memoryBytes)", "'memory.soft_limit_in_bytes', limits.memoryBytes)"],
      ],
    },
    caughtBy: ['03.oom', '03.oom-exit', '03.no-swap'],
  },
  {
    id: 'memory-limit-too-small',
    description: 'a quarter of the requested memory: 25 MB for --memory 100M',
    step: NET,
    edits: {
      'cgroups.ts': [
        ["writeCgroupFile(cgroup.memory, 'memory.max', limits.memoryBytes)", "writeCgroupFile(cgroup.memory, 'memory.max', limits.memoryBytes / 4)"],
        ["'memory.limit_in_bytes', limits.memoryBytes)", "'memory.limit_in_bytes', limits.memoryBytes / 4)"],
      ],
    },
    caughtBy: ['03.fits', '03.oom', '03.no-swap'],
  },
  {
    id: 'swap-allowed',
    description: 'swap left unlimited: memsw / memory.swap.max not written',
    step: NET,
    edits: {
      'cgroups.ts': [
        ["writeCgroupFile(cgroup.memory, 'memory.swap.max', 0)", "writeCgroupFile(cgroup.memory, 'memory.swap.max', 'max')"],
        ["'memory.memsw.limit_in_bytes', limits.memoryBytes)", "'memory.memsw.limit_in_bytes', -1)"],
      ],
    },
    caughtBy: ['03.no-swap'],
  },
  {
    id: 'never-joined',
    description: 'the cgroup is made but init is never put into it',
    step: NET,
    edits: { 'container.ts': [['    joinCgroup(cgroup, init.pid)\n', '']] },
    caughtBy: ['03.oom', '03.cpu', '03.pids', '03.cleanup'],
  },
  {
    id: 'no-cpu-limit',
    description: 'the CPU quota is never written',
    step: NET,
    edits: {
      'cgroups.ts': [
        ["writeCgroupFile(cgroup.cpu, 'cpu.max', `${quota} ${CPU_PERIOD_US}`)", 'void quota'],
        ["writeCgroupFile(cgroup.cpu, 'cpu.cfs_quota_us', quota)", 'void quota'],
      ],
    },
    caughtBy: ['03.cpu'],
  },
  {
    id: 'no-pids-limit',
    description: 'no pids limit: a fork bomb is not stopped',
    step: NET,
    edits: { 'cgroups.ts': [["writeCgroupFile(cgroup.pids, 'pids.max', limits.pids)", 'void limits.pids']] },
    caughtBy: ['03.pids'],
  },
  {
    id: 'no-oom-report',
    description: 'an OOM kill is not told apart from any SIGKILL',
    step: NET,
    edits: { 'container.ts': [['if (oomKills > 0)', 'if (oomKills < 0)']] },
    caughtBy: ['03.oom-exit'],
  },
  {
    id: 'cgroup-left-behind',
    description: 'the cgroup is never removed',
    step: NET,
    edits: { 'container.ts': [['cleanups.push(() => removeCgroup(cgroup))', 'cleanups.push(() => void cgroup)']] },
    caughtBy: ['03.cleanup'],
  },
  {
    id: 'no-netns',
    description: 'no network namespace',
    step: NET,
    edits: { 'network.ts': [['unshare(CLONE_NEWNET)', 'void CLONE_NEWNET']] },
    caughtBy: ['04.netns', '04.host-interfaces'],
  },
  {
    id: 'lo-down',
    description: 'lo left down',
    step: NET,
    edits: { 'network.ts': [["setInterfaceFlags('lo', getInterfaceFlags('lo') | IFF_UP)", 'void IFF_UP']] },
    caughtBy: ['04.lo-up'],
  },
  {
    id: 'hang',
    description: 'the engine never returns after the command ended',
    step: NET,
    edits: { 'container.ts': [['const status = await init.exited', 'const status = await init.exited.then(() => new Promise<number>(() => setInterval(() => {}, 1000)))']] },
    caughtBy: ['01.run'],
    env: { MINICONTAINER_TIMEOUT_SCALE: '0.2' },
  },
  {
    id: 'never-starts',
    description: 'init never receives its configuration: nothing ever runs',
    step: NET,
    edits: { 'container.ts': [['    init.start(config)\n', '']] },
    caughtBy: ['01.run', '01.pid1'],
    env: { MINICONTAINER_TIMEOUT_SCALE: '0.2' },
  },
  {
    id: 'fork-bomb',
    description: 'the container runs a fork bomb instead of the command (the pids, memory and CPU limits hold it)',
    step: NET,
    edits: { 'container.ts': [['    init.start(config)\n', "    init.start({ ...config, command: ['/bin/sh', '-c', 'b() { b | b & }; b; sleep 600'] })\n"]] },
    caughtBy: ['01.run'],
    env: { MINICONTAINER_TIMEOUT_SCALE: '0.2' },
  },
  {
    id: 'daemons-left',
    description: 'the engine starts processes that leave its process group and outlive it',
    step: NET,
    edits: {
      'container.ts': [
        [
          '    createPidNamespace()\n',
          "    for (let i = 0; i < 8; i++) (await import('node:child_process')).spawn('sleep', ['600'], { detached: true, stdio: 'ignore' }).unref()\n    createPidNamespace()\n",
        ],
      ],
    },
    caughtBy: ['host.clean'],
    only: ['01.run', 'host.clean'],
  },
  {
    id: 'crash',
    description: 'the engine throws before starting anything (a bug in the learner\'s code)',
    step: NET,
    edits: { 'container.ts': [['    createPidNamespace()\n', "    if (Date.now() > 0) throw new TypeError('boom: a bug in the engine')\n    createPidNamespace()\n"]] },
    caughtBy: ['01.run', '01.pid1', '04.netns'],
  },
  {
    id: 'syntax-error',
    description: 'the engine does not even parse',
    step: NET,
    edits: { 'network.ts': [['export function bringUpLoopback(): void {', 'export function bringUpLoopback(): void {{']] },
    caughtBy: ['01.run', '01.pid1'],
  },
  {
    id: 'garbage',
    description: 'the engine prints garbage and exits 0 without running anything',
    step: NET,
    edits: {
      'container.ts': [
        [
          'export async function run(options: RunOptions): Promise<number> {\n',
          "export async function run(options: RunOptions): Promise<number> {\n  process.stdout.write('\\u0000\\u001b[2J' + 'x'.repeat(200000) + '\\n')\n  if (Date.now() > 0) return 0\n",
        ],
      ],
    },
    caughtBy: ['01.run', '01.pid1', '02.rootfs'],
  },
  {
    id: 'fake',
    description: 'prints what the probes expect without isolating anything (runs the command on the host)',
    step: NET,
    edits: {
      'container.ts': [
        [
          'export async function run(options: RunOptions): Promise<number> {\n',
          [
            'export async function run(options: RunOptions): Promise<number> {',
            "  const fake = ['@mc pid=1', `@mc hostname=${options.hostname}`, '@mc mounted=yes', '@mc id=alpine', '@mc visible=no', '@mc pids=1 ', '@mc init=' + options.command.join(' '), '@mc null=char', '@mc nullwrite=ok', '@mc zero=0000000000000000', '@mc ifaces=lo ', '@mc ping=0', '@mc dd=137', '@mc bomb=2']",
            "  process.stdout.write(fake.join('\\n') + '\\n')",
            "  const { spawnSync } = await import('node:child_process')",
            "  const r = spawnSync(options.command[0]!, options.command.slice(1), { stdio: 'inherit' })",
            "  if (options.command.join(' ').includes('bs=200M')) { console.error(\"minicontainer: the kernel's OOM killer stopped the command\"); return 137 }",
            '  if (Date.now() > 0) return r.status ?? 125',
            '',
          ].join('\n'),
        ],
      ],
    },
    // Everything that needs real isolation; 01.run and 03.fits only need the command to run.
    caughtBy: ['01.pid1', '01.hostname', '01.mount', '01.ipc', '02.rootfs', '02.host-file', '02.proc', '03.oom', '03.oom-exit', '03.no-swap', '03.cpu', '03.pids', '03.cleanup', '04.netns', '04.lo-up'],
    only: ['01', '02', '03', '04'],
  },
  {
    id: 'veth-off-the-bridge',
    description: 'the host end of the veth pair is up but plugged into no bridge',
    step: NETWORKING,
    edits: { 'bridge.ts': [['host.setLink(lease.veth, { master: BRIDGE, up: true })', 'host.setLink(lease.veth, { up: true })']] },
    caughtBy: ['08.veth'],
  },
  {
    id: 'veth-not-moved',
    description: 'the container end of the pair stays on the host: no eth0 inside',
    step: NETWORKING,
    edits: { 'bridge.ts': [["host.setLink(peerName(lease), { netnsPid: pid, name: 'eth0' })", 'void pid']] },
    caughtBy: ['08.eth0'],
  },
  {
    id: 'gateway-address-for-a-container',
    description: 'the allocator hands out the bridge\'s own address 10.99.0.1',
    step: NETWORKING,
    edits: { 'bridge.ts': [['if (address !== GATEWAY && !taken.has(address)) return address', 'if (!taken.has(address)) return address']] },
    caughtBy: ['08.address'],
  },
  {
    id: 'one-address-for-all',
    description: 'the allocator ignores the leases: every container gets the same address',
    step: NETWORKING,
    edits: { 'bridge.ts': [['if (address !== GATEWAY && !taken.has(address)) return address', 'if (address !== GATEWAY) return address']] },
    caughtBy: ['08.neighbours'],
  },
  {
    id: 'no-default-route',
    description: 'eth0 gets its address but no default route',
    step: NETWORKING,
    edits: { 'bridge.ts': [['  inside.addDefaultRoute(GATEWAY)\n', '']] },
    caughtBy: ['08.route', '08.masquerade'],
  },
  {
    id: 'eth0-down',
    description: 'eth0 gets its address but is never brought up',
    step: NETWORKING,
    edits: { 'bridge.ts': [["  inside.setLink('eth0', { up: true })\n", '']] },
    caughtBy: ['08.route'],
  },
  {
    id: 'no-masquerade',
    description: 'no masquerade rule: the container\'s packets leave with its own address',
    step: NETWORKING,
    edits: { 'bridge.ts': [['const lines = [`add rule ip ${NAT_TABLE} outbound ip saddr ${lease.address} oifname != "${BRIDGE}" masquerade comment "${lease.tag}"`]', 'const lines: string[] = []']] },
    caughtBy: ['08.masquerade'],
  },
  {
    id: 'publish-to-the-host-port',
    description: 'published ports DNATed to the host port number instead of the container\'s',
    step: NETWORKING,
    edits: { 'bridge.ts': [['dnat to ${lease.address}:${p.containerPort}', 'dnat to ${lease.address}:${p.hostPort}']] },
    caughtBy: ['08.publish'],
  },
  {
    id: 'rules-untagged',
    description: 'the NAT rules carry no comment: the engine cannot find them to delete them',
    step: NETWORKING,
    edits: { 'bridge.ts': [[' masquerade comment "${lease.tag}"`', ' masquerade`'], [':${p.containerPort} comment "${lease.tag}"`', ':${p.containerPort}`']] },
    caughtBy: ['08.cleanup', 'host.clean'],
  },
]

/** Applies every edit, throwing when a `find` does not occur exactly once. */
export function mutate(text: string, edits: [string, string][], where: string): string {
  let out = text
  for (const [find, replace] of edits) {
    const count = out.split(find).length - 1
    if (count !== 1) {
      throw new Error(`mutant edit does not match ${where} exactly once (found ${count} times): ${JSON.stringify(find)}. The solution changed: update the mutant.`)
    }
    out = out.replace(find, () => replace)
  }
  return out
}

/**
 * Builds the mutant in a temp dir laid out like the project (<tmp>/solutions/<step> with lib and
 * node_modules linked), so the engine's `../../lib/...` imports resolve. Returns the engine dir.
 */
export function buildMutant(mutant: Mutant): { engineDir: string; remove: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `mc-mutant-${mutant.id}-`))
  for (const link of ['lib', 'node_modules', 'package.json']) fs.symlinkSync(path.join(PROJECT_ROOT, link), path.join(root, link))
  const engineDir = path.join(root, 'solutions', mutant.step)
  fs.cpSync(path.join(PROJECT_ROOT, 'solutions', mutant.step), engineDir, { recursive: true })
  for (const [file, edits] of Object.entries(mutant.edits)) {
    const target = path.join(engineDir, file)
    fs.writeFileSync(target, mutate(fs.readFileSync(target, 'utf8'), edits, `solutions/${mutant.step}/${file}`))
  }
  return { engineDir, remove: () => fs.rmSync(root, { recursive: true, force: true }) }
}
