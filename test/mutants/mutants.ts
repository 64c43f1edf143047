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
  /** The TODO each catching check must name, from its evidence ('' = none: the engine's plumbing). */
  hints?: Record<string, string>
  /** The engine fails before running the command: the report's root cause names this TODO ('' = none). */
  rootCause?: string
  /** Only on this cgroup version (the edit touches the other version's code, or is the same as the solution there). */
  cgroupVersion?: 1 | 2
}

const NET = '04-network'
const NETWORKING = '08-networking'
/** The last step's solution: the mutants of steps 05 and 06 (every earlier check runs on it too). */
const OVERLAY = '06-overlayfs'
const SECURITY = '07-security'
const IMAGES = '09-images'

/** A fake engine: prints what the probes expect and runs the command on the host, isolating nothing. */
const FAKE_RUN: [string, string] = [
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
]

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
    hints: { '01.host-hostname': '01.2', '01.hostname': '01.2' },
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
    hints: { '01.mount': '01.2', '02.no-mounts-left': '01.2' },
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
    id: 'signal-death-lost',
    description: 'a command killed by a signal reported as the engine\'s own failure (125): the starter of TODO(01.5)',
    step: NET,
    edits: { 'container.ts': [['  if (ended.signal) return EXIT.SIGNAL_BASE + os.constants.signals[ended.signal]\n', '  void os\n']] },
    caughtBy: ['01.signal-exit'],
  },
  {
    id: 'signal-death-always-137',
    description: 'every signal death reported as 137, as if SIGKILL were the only signal',
    step: NET,
    edits: { 'container.ts': [['if (ended.signal) return EXIT.SIGNAL_BASE + os.constants.signals[ended.signal]', 'if (ended.signal) return EXIT.SIGNAL_BASE + os.constants.signals.SIGKILL']] },
    caughtBy: ['01.signal-exit'],
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
    // The probe's writes to /dev/null land in a file of the image: host.clean finds it and removes it.
    caughtBy: ['02.dev', 'host.clean'],
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
    hints: { '03.oom': '03.3', '03.cpu': '03.3', '03.pids': '03.3', '03.cleanup': '03.3' },
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
    edits: { 'network.ts': [['    ioctl(fd, SIOCSIFFLAGS, ifreq)\n', '    void SIOCSIFFLAGS\n']] },
    caughtBy: ['04.lo-up'],
  },
  {
    id: 'ifreq-big-endian',
    description: 'struct ifreq\'s flags written big-endian: IFF_UP lands in the wrong byte (IFF_PROMISC\'s)',
    step: NET,
    edits: { 'network.ts': [['ifreq.writeUInt16LE(ifreq.readUInt16LE(IFNAMSIZ) | IFF_UP, IFNAMSIZ)', 'ifreq.writeUInt16BE(ifreq.readUInt16BE(IFNAMSIZ) | IFF_UP, IFNAMSIZ)']] },
    caughtBy: ['04.lo-up'],
  },
  {
    id: 'ifreq-flags-over-name',
    description: 'struct ifreq\'s flags written at offset 0, over the interface\'s name',
    step: NET,
    edits: { 'network.ts': [['ifreq.writeUInt16LE(ifreq.readUInt16LE(IFNAMSIZ) | IFF_UP, IFNAMSIZ)', 'ifreq.writeUInt16LE(ifreq.readUInt16LE(IFNAMSIZ) | IFF_UP, 0)']] },
    caughtBy: ['04.lo-up'],
  },
  {
    id: 'hang',
    description: 'the engine never returns after the command ended',
    step: NET,
    edits: { 'container.ts': [['const status = exitStatus(await init.exited)', 'const status = exitStatus(await init.exited.then(() => new Promise<InitEnd>(() => setInterval(() => {}, 1000))))']] },
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
    edits: { 'container.ts': [FAKE_RUN] },
    // Everything that needs real isolation; 01.run and 03.fits only need the command to run.
    caughtBy: [
      '01.pid1', '01.hostname', '01.mount', '01.ipc', '02.rootfs', '02.host-file', '02.proc', '03.oom', '03.oom-exit', '03.no-swap',
      '03.cpu', '03.pids', '03.cleanup', '04.netns', '04.lo-up',
    ],
    only: ['01', '02', '03', '04'],
  },
  // ---- Step 05: a root nothing walks out of ---------------------------------------------------------
  {
    id: 'chroot-only',
    description: "chroot instead of pivot_root: step 04's root change kept",
    step: OVERLAY,
    edits: { 'pivot.ts': [['pivotRoot, umount2 }', 'pivotRoot, umount2, chroot }'], ["  chdir(rootfs)\n  pivotRoot('.', '.')\n  umount2('.', MNT_DETACH)\n", '  chroot(rootfs)\n']] },
    caughtBy: ['05.no-way-up', '05.escape'],
    hints: { '05.no-way-up': '05.2', '05.escape': '05.2' },
  },
  {
    id: 'old-root-attached',
    description: 'pivot_root without unmounting the old root: the host\'s tree stays stacked on "/"',
    step: OVERLAY,
    edits: { 'pivot.ts': [["  umount2('.', MNT_DETACH)\n", '']] },
    caughtBy: ['05.old-root-gone', '05.no-way-up', '05.escape'],
    hints: { '05.old-root-gone': '05.3', '05.no-way-up': '05.3', '05.escape': '05.3' },
  },
  {
    id: 'descriptors-passed-on',
    description: 'a hand-written exec that skips execCommand(): the descriptors the engine inherited reach the command (CVE-2024-21626)',
    step: OVERLAY,
    edits: {
      'container.ts': [
        ["import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'", "import { SIGKILL, execve, keepOpenAcrossExec, setParentDeathSignal } from '../../lib/libc.ts'"],
        [
          '  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n',
          "  for (const fd of [0, 1, 2]) keepOpenAcrossExec(fd)\n  execve(config.command[0]!, config.command, Object.entries(config.env ?? engineEnvironment()).map(([k, v]) => `${k}=${v}`))\n  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n",
        ],
      ],
    },
    caughtBy: ['05.fds'],
    hints: { '05.fds': '' },
  },
  // ---- Step 06: a read-only image, a layer per container, volumes -----------------------------------
  {
    id: 'image-as-root',
    description: 'no overlay: the image itself is every container\'s writable root (step 05\'s way)',
    step: OVERLAY,
    edits: { 'overlay.ts': [["  mount('overlay', layer.merged, 'overlay', 0, options)\n", '  void options\n  mount(layer.image, layer.merged, null, 4096 /* MS_BIND */)\n']] },
    caughtBy: ['06.overlay', '06.image-unchanged', '06.isolation', '06.cleanup'],
    hints: { '06.overlay': '06.2', '06.image-unchanged': '06.2', '06.isolation': '06.2', '06.cleanup': '06.2' },
  },
  {
    id: 'root-only-upper',
    description: "the upper layer root's only (0700): the container's / is drwx------ and no user but root can run anything",
    step: OVERLAY,
    edits: { 'overlay.ts': [['  fs.chmodSync(layer.upper, fs.statSync(image).mode & 0o7777)\n', '']] },
    caughtBy: ['06.root-mode'],
    hints: { '06.root-mode': '06.1' },
  },
  {
    id: 'shared-layer',
    description: 'every container of one caller gets the same layer folder (named after the wrong pid)',
    step: OVERLAY,
    edits: { 'overlay.ts': [['  const dir = newLayerFolder()\n', "  const dir = path.join(path.dirname(newLayerFolder()), `mc-${process.ppid}-000000`)\n"]] },
    caughtBy: ['06.isolation'],
    hints: { '06.isolation': '06.1' },
  },
  {
    id: 'layer-left-behind',
    description: 'the layer folder is never removed',
    step: OVERLAY,
    edits: { 'container.ts': [['cleanups.push(() => removeLayer(layer))', 'cleanups.push(() => void layer)']] },
    caughtBy: ['06.cleanup'],
    hints: { '06.cleanup': '06.3' },
  },
  {
    id: 'no-sweep',
    description: 'the layers of engines killed with SIGKILL are never swept',
    step: OVERLAY,
    edits: { 'overlay.ts': [['  removeStaleLayers() // the layers of engines killed with SIGKILL\n', '']] },
    caughtBy: ['06.sweep'],
    hints: { '06.sweep': '06.3' },
  },
  {
    id: 'ro-on-first-bind',
    description: 'MS_RDONLY given to the call that creates the bind mount, which ignores it',
    step: OVERLAY,
    edits: { 'volumes.ts': [['    mount(volume.host, target, null, MS_BIND)\n    if (volume.readOnly) mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | perMountFlags(target))\n', '    mount(volume.host, target, null, MS_BIND | (volume.readOnly ? MS_RDONLY : 0))\n']] },
    caughtBy: ['06.volume-ro'],
    hints: { '06.volume-ro': '06.4' },
  },
  {
    id: 'no-volumes',
    description: '--volume accepted but never mounted',
    step: OVERLAY,
    edits: { 'rootfs.ts': [["  mountVolumes(rootfs, volumes) // while the host's folders are still reachable\n", '  void volumes\n']] },
    caughtBy: ['06.volume', '06.volume-ro'],
    hints: { '06.volume': '06.4', '06.volume-ro': '06.4' },
  },
  {
    id: 'volume-unchecked',
    description: 'a missing volume folder is not checked before the container starts (the mount fails inside, unclear)',
    step: OVERLAY,
    edits: { 'container.ts': [['config.volumes = requireVolumeSources(options.volumes)', 'config.volumes = options.volumes']] },
    caughtBy: ['06.volume-missing'],
    hints: { '06.volume-missing': '06.4' },
  },
  {
    id: 'fake-06',
    description: 'the fake engine again, on step 06: every check of steps 05 and 06 must catch it (safely: the probes touch only random paths)',
    step: OVERLAY,
    edits: { 'container.ts': [FAKE_RUN] },
    caughtBy: [
      '05.no-way-up', '05.old-root-gone', '05.escape', '05.fds', '06.overlay', '06.root-mode', '06.image-unchanged', '06.isolation',
      '06.cleanup', '06.sweep', '06.volume', '06.volume-ro', '06.volume-missing',
    ],
    only: ['05', '06'],
  },

  // ---- issue 16: broken engines that passed every check ----------------------------------------------------------
  {
    id: 'chroot-without-chdir',
    description: 'chroot without chdir: the working directory stays on the host, and `cd ..` walks out',
    step: NET,
    edits: { 'rootfs.ts': [["  chdir('/')\n", '']] },
    caughtBy: ['02.cwd'],
    hints: { '02.cwd': '02.2' },
  },
  {
    id: 'host-dev-bound',
    description: "the host's whole /dev bind-mounted (recursively) onto the container's /dev: every disk inside",
    step: NET,
    edits: {
      'rootfs.ts': [['  addDevLinks(dev)\n', "  addDevLinks(dev)\n  mount('/dev', dev, null, MS_BIND | 16384 /* MS_REC */)\n"]],
    },
    caughtBy: ['02.dev-nodes', '02.mounts'],
    hints: { '02.dev-nodes': '02.1', '02.mounts': '02.1' },
  },
  {
    id: 'private-not-recursive',
    description: 'MS_PRIVATE without MS_REC: with the rootfs on a shared mount of its own, every mount of the container reaches the host',
    step: NET,
    edits: { 'namespaces.ts': [["mount(null, '/', null, MS_REC | MS_PRIVATE)", "mount(null, '/', null, MS_PRIVATE)"]] },
    caughtBy: ['01.mount', '02.no-mounts-left'],
    hints: { '01.mount': '01.3', '02.no-mounts-left': '01.3' },
  },
  {
    id: 'host-environment',
    description: "the engine's whole environment given to the command (SSH agent socket, tokens, SUDO_*)",
    step: NET,
    edits: {
      'container.ts': [
        ['config.env = containerEnvironment(options.hostname)', 'config.env = { ...process.env } as Record<string, string>'],
      ],
    },
    caughtBy: ['02.env'],
    hints: { '02.env': '' },
  },
  {
    id: 'oom-line-always',
    description: "the OOM line printed whenever the counter is >= 0: \"the kernel's OOM killer ...\" after a normal run",
    step: NET,
    edits: { 'container.ts': [['if (oomKills > 0)', 'if (oomKills >= 0)']] },
    caughtBy: ['03.no-false-oom'],
    hints: { '03.no-false-oom': '03.4' },
  },
  // ---- more broken engines: what a hurried learner gets wrong, what a dangerous engine does ----------------------
  {
    id: 'dev-no-mountpoint',
    description: 'the empty files under /dev are not created: every bind mount of a device fails (ENOENT) and nothing runs',
    step: NET,
    edits: { 'rootfs.ts': [["    fs.writeFileSync(target, '') // a bind mount needs something to cover\n", '']] },
    caughtBy: ['01.run', '01.pid1', '02.rootfs', '02.dev', '04.netns'],
    only: ['01', '02', '04'],
    rootCause: '02.1',
  },
  {
    id: 'memsw-before-limit',
    description: 'cgroup v1: memory + swap written before the memory limit: EINVAL, the engine stops before the command',
    step: NET,
    edits: {
      'cgroups.ts': [
        [
          "    writeCgroupFile(cgroup.memory, 'memory.limit_in_bytes', limits.memoryBytes)\n",
          "    writeCgroupFile(cgroup.memory, 'memory.memsw.limit_in_bytes', limits.memoryBytes)\n",
        ],
        [
          "    if (fs.existsSync(path.join(cgroup.memory, 'memory.memsw.limit_in_bytes'))) {\n" +
            "      writeCgroupFile(cgroup.memory, 'memory.memsw.limit_in_bytes', limits.memoryBytes)\n" +
            '    }\n',
          "    writeCgroupFile(cgroup.memory, 'memory.limit_in_bytes', limits.memoryBytes)\n",
        ],
      ],
    },
    caughtBy: ['01.run', '03.oom', '03.cpu'],
    rootCause: '03.2',
    cgroupVersion: 1,
  },
  {
    id: 'host-root-bound',
    description: "the host's / bind-mounted into the container (at /mnt), read-write",
    step: NET,
    edits: { 'rootfs.ts': [['  addDevLinks(dev)\n', "  addDevLinks(dev)\n  mount('/', path.join(dev, '..', 'mnt'), null, MS_BIND | 16384 /* MS_REC */)\n"]] },
    caughtBy: ['02.mounts'],
    hints: { '02.mounts': '' },
  },
  {
    id: 'host-proc-bound',
    description: "the host's /proc bind-mounted instead of a fresh proc: every host process visible and signalable",
    step: NET,
    edits: {
      'rootfs.ts': [
        ['  addDevLinks(dev)\n', "  addDevLinks(dev)\n  mount('/proc', path.join(dev, '..', 'proc'), null, MS_BIND | 16384 /* MS_REC */)\n"],
        ["  mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)\n", '  void MS_NODEV\n'],
      ],
    },
    caughtBy: ['02.proc'],
    hints: { '02.proc': '02.3' },
  },
  {
    id: 'no-dev-tmpfs',
    description: "no tmpfs on /dev: the device files are written into the rootfs image itself (and stay there)",
    step: NET,
    edits: { 'rootfs.ts': [["  mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_NOEXEC, 'mode=755,size=64k')\n", '']] },
    caughtBy: ['02.dev-nodes', 'host.clean'],
    hints: { '02.dev-nodes': '02.1' },
  },
  {
    id: 'mounts-on-host',
    description: "/dev filled from the host's side (in the engine's mount namespace) and unmounted at exit: invisible after the run",
    step: NET,
    edits: {
      'rootfs.ts': [['  populateDev(rootfs)\n', '']],
      'container.ts': [
        ["import { enterRootfs } from './rootfs.ts'", "import { enterRootfs, populateDev } from './rootfs.ts'"],
        ["import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'", "import { MNT_DETACH, SIGKILL, setParentDeathSignal, umount2 } from '../../lib/libc.ts'"],
        ['    createPidNamespace()\n', "    populateDev(config.rootfs!)\n    cleanups.push(() => umount2(config.rootfs + '/dev', MNT_DETACH))\n    createPidNamespace()\n"],
      ],
    },
    caughtBy: ['02.no-mounts-left'],
    hints: { '02.no-mounts-left': '02.1' },
  },
  {
    id: 'fd-leak',
    description: "init keeps an open file of the host's / across execve (runc's CVE-2024-21626 leaked one): `cd /proc/self/fd/N` escapes",
    step: NET,
    edits: {
      'container.ts': [
        ["import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'", "import { SIGKILL, execve, keepOpenAcrossExec, setParentDeathSignal } from '../../lib/libc.ts'\nimport fs from 'node:fs'"],
        ['  const { config, ignoredSignals } = receiveConfig()\n', "  const { config, ignoredSignals } = receiveConfig()\n  const hostRoot = fs.openSync('/', 'r')\n"],
        [
          '  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n',
          "  for (const fd of [0, 1, 2, hostRoot]) keepOpenAcrossExec(fd)\n  execve(config.command[0]!, config.command, Object.entries(config.env ?? engineEnvironment()).map(([k, v]) => `${k}=${v}`))\n  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n",
        ],
      ],
    },
    caughtBy: ['01.fds'],
    hints: { '01.fds': '' },
  },
  {
    id: 'no-sigterm-forwarding',
    description: 'SIGTERM kills the engine instead of reaching the command: no clean stop, the cgroup stays',
    step: NET,
    edits: { 'container.ts': [['  trapStopSignals() // Ctrl-C from here on stops the container; the engine still cleans up\n', '']] },
    caughtBy: ['01.sigterm'],
  },
  {
    id: 'no-pdeathsig',
    description: 'the container does not die with its engine (no PR_SET_PDEATHSIG): kill -9 on the engine leaves it running',
    step: NET,
    edits: { 'container.ts': [['  setParentDeathSignal(SIGKILL)\n', '']] },
    caughtBy: ['01.engine-killed', 'host.clean'],
  },
  {
    id: 'command-as-child',
    description: 'init starts the command as its child instead of becoming it (execve): PID 1 is Node',
    step: NET,
    edits: {
      'container.ts': [
        ["import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'", "import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'\nimport { spawnSync } from 'node:child_process'"],
        [
          '  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n',
          "  const child = spawnSync(config.command[0]!, config.command.slice(1), { stdio: 'inherit', env: config.env })\n  if (Date.now() > 0) process.exit(child.status ?? 137)\n  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n",
        ],
      ],
    },
    caughtBy: ['01.pid1'],
    hints: { '01.pid1': '' },
  },
  {
    id: 'hostname-before-unshare',
    description: 'a refactor sets the hostname before the UTS namespace exists: the host is renamed',
    step: NET,
    edits: { 'container.ts': [['    enterNamespaces()\n    makeMountsPrivate()\n    setHostname(config.hostname)\n', '    setHostname(config.hostname)\n    enterNamespaces()\n    makeMountsPrivate()\n']] },
    caughtBy: ['01.host-hostname', 'host.clean'],
    hints: { '01.host-hostname': '01.4' },
  },
  {
    id: 'fixed-cgroup-name',
    description: 'one cgroup name for every container: two containers share limits, and the first to exit kills the other',
    step: NET,
    edits: { 'cgroups.ts': [['cgroupPaths(version, newCgroupName())', "cgroupPaths(version, 'mc-shared')"]] },
    caughtBy: ['03.own-cgroup'],
    hints: { '03.own-cgroup': '03.1' },
  },
  {
    id: 'limits-on-parent',
    description: "the limits written to the parent folder (shared by every container), not the container's own cgroup",
    step: NET,
    edits: {
      'cgroups.ts': [['    writeLimits(cgroup, limits)\n', '    writeLimits({ ...cgroup, memory: path.dirname(cgroup.memory), cpu: path.dirname(cgroup.cpu), pids: path.dirname(cgroup.pids) }, limits)\n']],
    },
    caughtBy: ['03.oom', '03.no-swap', '03.cpu', '03.pids'],
    hints: { '03.oom': '03.2', '03.cpu': '03.2', '03.pids': '03.2' },
  },
  {
    id: 'fixed-cpu-quota',
    description: '--cpus ignored: a fixed quota of half a CPU',
    step: NET,
    edits: { 'cgroups.ts': [['const quota = Math.round(limits.cpus * CPU_PERIOD_US)', 'const quota = 50_000']] },
    caughtBy: ['03.cpu'],
    hints: { '03.cpu': '03.2' },
  },
  {
    id: 'joins-memory-only',
    description: 'cgroup v1: init put into the memory cgroup only, left in the root of cpu and pids',
    step: NET,
    edits: { 'cgroups.ts': [["for (const dir of cgroupDirs(cgroup)) writeCgroupFile(dir, 'cgroup.procs', pid)", "writeCgroupFile(cgroup.memory, 'cgroup.procs', pid)"]] },
    caughtBy: ['03.cpu', '03.pids'],
    hints: { '03.cpu': '03.3', '03.pids': '03.3' },
    cgroupVersion: 1,
  },
  {
    id: 'joins-itself',
    description: "the engine's own PID written to cgroup.procs instead of init's: the container runs unlimited (and the engine kills itself at clean-up)",
    step: NET,
    edits: { 'cgroups.ts': [["writeCgroupFile(dir, 'cgroup.procs', pid)", "writeCgroupFile(dir, 'cgroup.procs', process.pid)"]] },
    caughtBy: ['03.oom', '03.pids'],
    hints: { '03.oom': '03.3', '03.pids': '03.3' },
  },
  {
    id: 'signals-left-ignored',
    description: 'a hand-written exec that closes the fds but leaves SIGPIPE ignored as Node had it: `yes | head` never ends',
    step: NET,
    edits: {
      'container.ts': [
        ["import { SIGKILL, setParentDeathSignal } from '../../lib/libc.ts'", "import { SIGKILL, closeOnExecFrom, execve, keepOpenAcrossExec, setParentDeathSignal } from '../../lib/libc.ts'"],
        [
          '  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n',
          "  for (const fd of [0, 1, 2]) keepOpenAcrossExec(fd)\n  closeOnExecFrom(3)\n  execve(config.command[0]!, config.command, Object.entries(config.env ?? engineEnvironment()).map(([k, v]) => `${k}=${v}`))\n  execCommand(config.command, config.env ?? engineEnvironment(), ignoredSignals)\n",
        ],
      ],
    },
    caughtBy: ['01.signals-default'],
    hints: { '01.signals-default': '' },
  },
  {
    id: 'cleanup-memory-only',
    description: 'cgroup v1: only the memory folder removed, the cpu and pids ones left behind',
    step: NET,
    edits: { 'cgroups.ts': [['  for (const dir of cgroupDirs(cgroup)) {\n    killCgroupProcesses(dir)', '  for (const dir of [cgroup.memory]) {\n    killCgroupProcesses(dir)']] },
    caughtBy: ['03.cleanup'],
    hints: { '03.cleanup': '03.5' },
    cgroupVersion: 1,
  },
  {
    id: 'no-veth-pair',
    description: 'no veth pair made: nothing to plug in or move',
    step: NETWORKING,
    edits: { 'bridge.ts': [['  host.createVethPair(lease.veth, peerName(lease), { peerMac: macForAddress(lease.address) })\n', '']] },
    caughtBy: ['08.veth'],
    hints: { '08.veth': '08.2' },
    rootCause: '08.2',
  },
  {
    id: 'veth-off-the-bridge',
    description: 'the host end of the veth pair is up but plugged into no bridge',
    step: NETWORKING,
    edits: { 'bridge.ts': [['host.setLink(lease.veth, { master: BRIDGE, up: true })', 'host.setLink(lease.veth, { up: true })']] },
    caughtBy: ['08.veth'],
    hints: { '08.veth': '08.2' },
  },
  {
    id: 'veth-not-moved',
    description: 'the container end of the pair stays on the host: no eth0 inside',
    step: NETWORKING,
    edits: { 'bridge.ts': [["host.setLink(peerName(lease), { netnsPid: pid, name: 'eth0' })", 'void pid']] },
    caughtBy: ['08.eth0'],
    hints: { '08.eth0': '08.3' },
    rootCause: '08.3',
  },
  {
    id: 'gateway-address-for-a-container',
    description: 'the allocator hands out the bridge\'s own address 10.99.0.1',
    step: NETWORKING,
    edits: { 'bridge.ts': [['if (address !== GATEWAY && !taken.has(address)) return address', 'if (!taken.has(address)) return address']] },
    caughtBy: ['08.address'],
    hints: { '08.address': '08.1' },
  },
  {
    id: 'one-address-for-all',
    description: 'the allocator ignores the leases: every container gets the same address',
    step: NETWORKING,
    edits: { 'bridge.ts': [['if (address !== GATEWAY && !taken.has(address)) return address', 'if (address !== GATEWAY) return address']] },
    caughtBy: ['08.neighbours'],
    hints: { '08.neighbours': '08.1' },
  },
  {
    id: 'no-default-route',
    description: 'eth0 gets its address but no default route',
    step: NETWORKING,
    edits: { 'bridge.ts': [['  inside.addDefaultRoute(GATEWAY)\n', '']] },
    caughtBy: ['08.route', '08.masquerade'],
    hints: { '08.route': '08.4', '08.masquerade': '08.4' },
  },
  {
    id: 'eth0-down',
    description: 'eth0 gets its address but is never brought up',
    step: NETWORKING,
    edits: { 'bridge.ts': [["  inside.setLink('eth0', { up: true })\n", '']] },
    caughtBy: ['08.route'],
    hints: { '08.route': '08.4' },
    rootCause: '08.4',
  },
  {
    id: 'no-masquerade',
    description: 'no masquerade rule: the container\'s packets leave with its own address',
    step: NETWORKING,
    edits: { 'bridge.ts': [['const lines = [`add rule ip ${NAT_TABLE} outbound ip saddr ${lease.address} oifname != "${BRIDGE}" masquerade comment "${lease.tag}"`]', 'const lines: string[] = []']] },
    caughtBy: ['08.masquerade'],
    hints: { '08.masquerade': '08.5' },
  },
  {
    id: 'publish-to-the-host-port',
    description: 'published ports DNATed to the host port number instead of the container\'s',
    step: NETWORKING,
    edits: { 'bridge.ts': [['dnat to ${lease.address}:${p.containerPort}', 'dnat to ${lease.address}:${p.hostPort}']] },
    caughtBy: ['08.publish'],
    hints: { '08.publish': '08.5' },
  },
  {
    id: 'rules-untagged',
    description: 'the NAT rules carry no comment: the engine cannot find them to delete them',
    step: NETWORKING,
    edits: {
      'bridge.ts': [
        [' masquerade comment "${lease.tag}"`', ' masquerade`'],
        [':${p.containerPort} comment "${lease.tag}"`', ':${p.containerPort}`'],
      ],
    },
    caughtBy: ['08.cleanup', 'host.clean'],
    hints: { '08.cleanup': '08.5' },
  },
  {
    id: 'keep-mknod',
    description: "docker's capabilities, MKNOD included, and no device cgroup: a block device made in /tmp opens",
    step: SECURITY,
    edits: { 'security.ts': [["  'CHOWN', 'DAC_OVERRIDE', 'FSETID',", "  'MKNOD', 'CHOWN', 'DAC_OVERRIDE', 'FSETID',"]] },
    caughtBy: ['07.capabilities', '07.disk'],
    hints: { '07.capabilities': '07.4', '07.disk': '07.4' },
  },
  {
    id: 'bounding-kept',
    description: 'effective and permitted shrunk, the bounding set left whole (root would get it all back at the next execve without no_new_privs)',
    step: SECURITY,
    edits: { 'security.ts': [['    if ((keep & (1n << BigInt(cap))) === 0n) dropFromBoundingSet(cap)\n', '    void cap\n']] },
    caughtBy: ['07.capabilities'],
    hints: { '07.capabilities': '07.4' },
  },
  {
    id: 'inheritable-kept',
    description: 'the kept set left in the inheritable set too (docker before CVE-2022-24769)',
    step: SECURITY,
    edits: { 'security.ts': [['setCapabilities({ effective: keep, permitted: keep, inheritable: 0n })', 'setCapabilities({ effective: keep, permitted: keep, inheritable: keep })']] },
    caughtBy: ['07.capabilities'],
    hints: { '07.capabilities': '07.4' },
  },
  {
    id: 'caps-without-inheritable',
    description: 'only the bounding set dropped: a parent\'s inheritable SYS_ADMIN and MKNOD come back to root at execve',
    step: SECURITY,
    edits: { 'security.ts': [['  setCapabilities({ effective: keep, permitted: keep, inheritable: 0n })\n  clearAmbientCapabilities()\n', '']] },
    caughtBy: ['07.capabilities'],
    hints: { '07.capabilities': '07.4' },
  },
  {
    id: 'no-no-new-privs',
    description: 'no no_new_privs (the filter installed first, while CAP_SYS_ADMIN still allows it)',
    step: SECURITY,
    edits: {
      'security.ts': [['  setNoNewPrivileges()\n', '']],
      'container.ts': [['    dropCapabilities() // after the last mount and after lo is up: both needed what this takes away\n    installSyscallFilter() // the very last: from here on mount, unshare... fail for init too\n', '    installSyscallFilter()\n    dropCapabilities()\n']],
    },
    caughtBy: ['07.capabilities'],
    hints: { '07.capabilities': '07.4' },
  },
  {
    id: 'no-seccomp',
    description: 'no seccomp filter: capabilities dropped, but a user namespace gives them all back',
    step: SECURITY,
    edits: { 'container.ts': [['    installSyscallFilter() // the very last: from here on mount, unshare... fail for init too\n', '']] },
    caughtBy: ['07.seccomp'],
    hints: { '07.seccomp': '07.5' },
  },
  {
    id: 'deny-list-without-unshare',
    description: 'unshare missing from the deny-list',
    step: SECURITY,
    edits: { 'security.ts': [["    'unshare', 'setns',", "    'setns',"]] },
    caughtBy: ['07.seccomp'],
    hints: { '07.seccomp': '07.5' },
  },
  {
    id: 'deny-list-without-keyring',
    description: 'keyctl and add_key missing from the deny-list (nothing in busybox calls them: only the filter read back shows it)',
    step: SECURITY,
    edits: { 'security.ts': [["'keyctl', 'add_key', 'request_key',", "'request_key',"]] },
    caughtBy: ['07.seccomp'],
    hints: { '07.seccomp': '07.5' },
  },
  {
    id: 'clone-unfiltered',
    description: 'clone() allowed with CLONE_NEWUSER: any program makes a user namespace without unshare()',
    step: SECURITY,
    edits: { 'security.ts': [['  { syscall: \'clone\', errno: EPERM, when: { argument: 0, anyBitOf: NAMESPACE_FLAGS } },\n', '']] },
    caughtBy: ['07.seccomp'],
    hints: { '07.seccomp': '07.5' },
  },
  {
    id: 'clone3-eperm',
    description: 'clone3 refused with EPERM: glibc gives up instead of falling back to clone()',
    step: SECURITY,
    edits: { 'security.ts': [["{ syscall: 'clone3', errno: ENOSYS }", "{ syscall: 'clone3', errno: EPERM }"]] },
    caughtBy: ['07.seccomp'],
    hints: { '07.seccomp': '07.5' },
  },
  {
    id: 'no-privilege-drop',
    description: 'neither capabilities dropped nor a filter: root mounts and makes namespaces at will (the cgroup namespace alone keeps it in its cgroup on v2)',
    step: SECURITY,
    edits: { 'container.ts': [['    dropCapabilities() // after the last mount and after lo is up: both needed what this takes away\n    installSyscallFilter() // the very last: from here on mount, unshare... fail for init too\n', '']] },
    caughtBy: ['07.capabilities', '07.seccomp', '07.refused', '07.disk'],
    hints: { '07.capabilities': '07.4', '07.seccomp': '07.5', '07.refused': '07.4', '07.disk': '07.4' },
  },
  {
    id: 'no-lockdown',
    description: 'no capabilities dropped, no filter, no cgroup namespace: root mounts the host\'s cgroup tree and leaves its limits',
    step: SECURITY,
    edits: {
      'container.ts': [['    dropCapabilities() // after the last mount and after lo is up: both needed what this takes away\n    installSyscallFilter() // the very last: from here on mount, unshare... fail for init too\n', '']],
      'kernelfs.ts': [['  unshare(CLONE_NEWCGROUP)\n', '  void CLONE_NEWCGROUP\n']],
    },
    caughtBy: ['07.cgroup-escape', '07.cgroupns', '07.capabilities', '07.seccomp', '07.refused', '07.disk'],
    hints: {
      '07.cgroup-escape': '07.4',
      '07.cgroupns': '07.1',
      '07.capabilities': '07.4',
      '07.seccomp': '07.5',
      '07.refused': '07.4',
      '07.disk': '07.4',
    },
  },
  {
    id: 'no-cgroupns',
    description: 'no cgroup namespace: the container sees (read-only) the host\'s whole cgroup tree',
    step: SECURITY,
    edits: { 'kernelfs.ts': [['  unshare(CLONE_NEWCGROUP)\n', '  void CLONE_NEWCGROUP\n']] },
    caughtBy: ['07.cgroupns'],
    hints: { '07.cgroupns': '07.1' },
  },
  {
    id: 'cgroupfs-writable',
    description: 'the cgroup filesystems mounted writable (v1: the container can lift its own memory limit)',
    step: SECURITY,
    edits: {
      'kernelfs.ts': [
        ["mount('cgroup2', CGROUP_MOUNT_POINT, 'cgroup2', READ_ONLY)", "mount('cgroup2', CGROUP_MOUNT_POINT, 'cgroup2', READ_ONLY & ~MS_RDONLY)"],
        ['mount(hierarchy.fsType, dir, hierarchy.fsType, READ_ONLY, hierarchy.options || null)', 'mount(hierarchy.fsType, dir, hierarchy.fsType, READ_ONLY & ~MS_RDONLY, hierarchy.options || null)'],
      ],
    },
    caughtBy: ['07.cgroupns'],
    hints: { '07.cgroupns': '07.3' },
  },
  {
    id: 'cgroupfs-writable-v1',
    description: 'cgroup v1, the cgroup filesystems mounted writable: root (DAC_OVERRIDE is kept) writes -1 into its own memory.limit_in_bytes',
    step: SECURITY,
    edits: { 'kernelfs.ts': [['mount(hierarchy.fsType, dir, hierarchy.fsType, READ_ONLY, hierarchy.options || null)', 'mount(hierarchy.fsType, dir, hierarchy.fsType, READ_ONLY & ~MS_RDONLY, hierarchy.options || null)']] },
    caughtBy: ['07.cgroup-escape', '07.cgroupns'],
    hints: { '07.cgroup-escape': '07.3', '07.cgroupns': '07.3' },
    cgroupVersion: 1,
  },
  {
    id: 'no-cgroupfs',
    description: 'nothing mounted at /sys/fs/cgroup',
    step: SECURITY,
    edits: { 'container.ts': [['    mountCgroups(cgroups)\n', '    void cgroups\n']] },
    caughtBy: ['07.cgroupns'],
    hints: { '07.cgroupns': '07.3' },
  },
  {
    id: 'sysfs-writable',
    description: '/sys mounted writable',
    step: SECURITY,
    edits: { 'kernelfs.ts': [["mount('sysfs', '/sys', 'sysfs', READ_ONLY)", "mount('sysfs', '/sys', 'sysfs', READ_ONLY & ~MS_RDONLY)"]] },
    caughtBy: ['07.sys'],
    hints: { '07.sys': '07.2' },
  },
  {
    id: 'proc-unmasked',
    description: '/proc/kcore, /proc/keys, /proc/timer_list... left as the kernel shows them',
    step: SECURITY,
    edits: {
      'kernelfs.ts': [['  for (const target of MASKED_PATHS) {\n', '  for (const target of MASKED_PATHS.filter(() => false)) {\n']],
    },
    caughtBy: ['07.proc'],
    hints: { '07.proc': '07.2' },
  },
  {
    id: 'proc-writable',
    description: '/proc/sys and /proc/sysrq-trigger left writable',
    step: SECURITY,
    edits: { 'kernelfs.ts': [['  for (const target of READ_ONLY_PATHS) {\n', '  for (const target of READ_ONLY_PATHS.filter(() => false)) {\n']] },
    caughtBy: ['07.proc'],
    hints: { '07.proc': '07.2' },
  },
  {
    id: 'fake-07',
    description: 'the fake engine on step 07: every check must catch it from the host, whatever the probes print (what it does to the host, the checker undoes)',
    step: SECURITY,
    edits: { 'container.ts': [FAKE_RUN] },
    caughtBy: [
      '07.capabilities', '07.seccomp', '07.refused', '07.cgroup-escape', '07.cgroupns', '07.disk', '07.proc', '07.sys', '07.dev-nodev',
    ],
    only: ['07'],
  },
  {
    id: 'dev-without-nodev',
    description: '/dev left without nodev',
    step: SECURITY,
    edits: { 'kernelfs.ts': [["  mount(null, '/dev', null, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=755,size=64k')\n", '']] },
    caughtBy: ['07.dev-nodev'],
    hints: { '07.dev-nodev': '07.2' },
  },
  // Step 09: images (a real registry on 127.0.0.1; each mutant breaks one decision of engine/all-steps/image.ts).
  {
    id: 'manifest-any-architecture',
    description: "the index's manifest chosen by os alone: the first entry, another platform's, is taken",
    step: IMAGES,
    edits: { 'image.ts': [['p !== undefined && p.os === platform.os && p.architecture === platform.architecture &&', 'p !== undefined && p.os === platform.os &&']] },
    caughtBy: ['09.pull'],
    hints: { '09.pull': '09.1' },
  },
  {
    id: 'blob-size-only',
    description: 'a blob checked by its size only: a config with one value changed (same size) is stored and used',
    step: IMAGES,
    edits: { 'image.ts': [['    if (got !== expected.digest) {\n', '    if (got !== expected.digest && size !== expected.size) {\n']] },
    caughtBy: ['09.verify'],
  },
  {
    id: 'blob-downloaded-again',
    description: 'a blob already in the store downloaded again on every pull',
    step: IMAGES,
    edits: { 'image.ts': [['  if (store.hasBlob(expected.digest)) return\n', '']] },
    caughtBy: ['09.reuse'],
  },
  {
    id: 'lowerdirs-bottom-first',
    description: "the image's layers given to overlayfs bottom first, as the manifest lists them: the base hides the top layer's changes",
    step: IMAGES,
    edits: { 'overlay.ts': [['  const lower = [...layer.lowerDirs!].reverse().map(overlayPath).join', '  const lower = [...layer.lowerDirs!].map(overlayPath).join']] },
    caughtBy: ['09.layers', '09.whiteouts'],
    only: ['09.layers', '09.whiteouts'],
    hints: { '09.layers': '09.4' },
  },
  {
    id: 'whiteout-files-kept',
    description: '.wh.NAME files left as they are (only opaque folders converted): the deleted file is back in the container',
    step: IMAGES,
    edits: {
      'image.ts': [
        ['    else if (!there) mknod(target, S_IFCHR, makedev(0, 0))\n', '    else if (!there) void [S_IFCHR, makedev, mknod]\n'],
      ],
    },
    caughtBy: ['09.whiteouts'],
  },
  {
    id: 'image-env-ignored',
    description: "the image's Env not applied: its PATH and variables missing",
    step: IMAGES,
    edits: { 'image.ts': [['  for (const entry of c.Env ?? []) {\n', '  for (const entry of [] as string[]) {\n']] },
    caughtBy: ['09.config'],
  },
  {
    id: 'image-user-ignored',
    description: "the image's User not applied: the command runs as root",
    step: IMAGES,
    edits: { 'image.ts': [["workingDir: c.WorkingDir || '/', user: c.User ?? '' }", "workingDir: c.WorkingDir || '/', user: '' }"]] },
    caughtBy: ['09.config'],
  },
  {
    id: 'entrypoint-ignored',
    description: "the image's Entrypoint left out: its Cmd (or the command given) runs alone",
    step: IMAGES,
    edits: { 'image.ts': [['  const argv = [...(c.Entrypoint ?? []), ...(command.length', '  const argv = [...(command.length']] },
    caughtBy: ['09.entrypoint'],
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
  const remove = (): void => fs.rmSync(root, { recursive: true, force: true })
  const engineDir = path.join(root, 'solutions', mutant.step)
  try {
    fs.cpSync(path.join(PROJECT_ROOT, 'solutions', mutant.step), engineDir, { recursive: true })
    for (const [file, edits] of Object.entries(mutant.edits)) {
      const target = path.join(engineDir, file)
      fs.writeFileSync(target, mutate(fs.readFileSync(target, 'utf8'), edits, `solutions/${mutant.step}/${file}`))
    }
  } catch (error) {
    remove() // an edit that no longer matches leaves no copy behind in /tmp
    throw error
  }
  return { engineDir, remove }
}
