// Step 07: what root in the container may still do. Each check tries a door from inside (the escapes of
// checker/security-escapes.ts: against step 06's engine they all work) and proves from the host that it stayed shut:
// the process's cgroup and the kernel's oom_kill counter, its capability sets and its seccomp filter as the
// kernel holds them (/proc/<pid>/status, the filter read back with ptrace), its mount table, the kernel log.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { fail, randomInt, requireFact, requireHost, requireLive, type Check } from '../check.ts'
import { cgroupVersion, readLimits, type CgroupLimits } from '../cgroups.ts'
import {
  cgroupEscapeScript, diskEscapeScript, kernelLogEnd, kernelLogSince, makeLoopDisk, removeDiskNodesOnHost, removeLoopDisk, sysrqScript, whyNoLoopDisk,
} from '../security-escapes.ts'
import { mountsOf, readLink, readText, type MountEntry } from '../proc.ts'
import { PAUSE } from '../probe.ts'
import type { RunResult } from '../runner.ts'
import { capabilityMask, capabilityNames, parseStatusCapabilities } from '../../lib/capabilities.ts'
import { AUDIT_ARCH, describeVerdict, readSeccompFilters, runFilters, type Instruction } from '../../lib/seccomp.ts'
import { nativeArchitecture, syscallNumber } from '../../lib/syscalls.ts'

const MiB = 1024 * 1024

/** docker's default capabilities (moby oci/caps/defaults.go) without MKNOD: what the container keeps. */
export const KEPT_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE']
const KEPT = capabilityMask(KEPT_CAPABILITIES)

/** Calls the filter must refuse with EPERM (issue 12; docker's profile refuses them too). */
export const MUST_DENY = ['mount', 'umount2', 'unshare', 'setns', 'pivot_root', 'keyctl', 'add_key', 'init_module', 'finit_module', 'kexec_load', 'reboot', 'swapon', 'bpf', 'perf_event_open', 'ptrace']
/** Calls every program makes: a filter that refuses them breaks everything. */
const MUST_ALLOW = ['read', 'write', 'openat', 'close', 'execve', 'getpid', 'exit_group']
const CLONE_NEWUSER = 0x10000000
const SIGCHLD = 17
/** The 32-bit ABI of each architecture: AUDIT_ARCH_I386 and AUDIT_ARCH_ARM. */
const FOREIGN_ARCH = { x86_64: 0x40000003, aarch64: 0x40000028 } as const

/** The engine is started by a parent that hands it SYS_ADMIN and MKNOD in its inheritable and ambient sets. */
const HANDED_DOWN = ['sys_admin', 'mknod']
function launcher(): string[] | undefined {
  if (spawnSync('setpriv', ['--version']).status !== 0) return undefined
  const caps = HANDED_DOWN.map((c) => `+${c}`).join(',')
  return ['setpriv', `--inh-caps=${caps}`, `--ambient-caps=${caps}`, '--']
}

const hex = (mask: bigint): string => mask.toString(16).padStart(16, '0')
function describeSet(mask: bigint, expected: bigint): string {
  const extra = capabilityNames(mask & ~expected)
  const missing = capabilityNames(expected & ~mask)
  return [hex(mask), extra.length ? `has ${extra.join(', ')}` : '', missing.length ? `lacks ${missing.join(', ')}` : ''].filter(Boolean).join('; ')
}

const mountAt = (mounts: readonly MountEntry[], path: string): MountEntry | undefined => mounts.filter((m) => m.mountPoint === path).at(-1) // the top one
/** The per-mount options (field 6 of mountinfo): "ro,nosuid,nodev,...". */
const mountOptions = (m: MountEntry): string[] => (m.line.split(' ')[5] ?? '').split(',')
const isReadOnly = (m: MountEntry | undefined): boolean => m !== undefined && mountOptions(m).includes('ro')
/** mountinfo's field 4: the folder of its filesystem a mount shows (a cgroup mount in a cgroup namespace: that cgroup). */
const mountRoot = (m: MountEntry): string => m.line.split(' ')[3] ?? ''

/** A /proc path masked as runc does: /dev/null bound over a file, an empty read-only tmpfs over a folder. */
function isMasked(mounts: readonly MountEntry[], path: string): boolean {
  const over = mountAt(mounts, path)
  if (!over) return false
  if (over.fsType === 'tmpfs' && isReadOnly(over)) return true
  const devNull = mountAt(mounts, '/dev/null')
  const sameAs = (a: MountEntry, b: MountEntry): boolean => a.line.split(' ')[2] === b.line.split(' ')[2] && mountRoot(a) === mountRoot(b)
  return devNull !== undefined && sameAs(over, devNull)
}

function statusField(status: string | undefined, name: string): string | undefined {
  return status ? new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() : undefined
}

export const checks: Check[] = [
  {
    id: '07.capabilities',
    title: "the command keeps docker's capabilities minus MKNOD, in every set (even when its parent hands it more), and no_new_privs",
    why: "root with every capability can mount, load kernel modules and reach the host's devices; whatever is not dropped from the bounding and inheritable sets comes back at the next execve.",
    hint: '07.4',
    async run(ctx) {
      const wrap = launcher()
      let status: string | undefined
      const r = await ctx.run({ script: PAUSE, launcher: wrap, onReady: ({ pid }) => void (status = readText(`/proc/${pid}/status`)) })
      requireLive(r)
      if (!wrap) ctx.note('setpriv is not installed: the engine was started without extra inheritable or ambient capabilities')
      const sets = status ? parseStatusCapabilities(status) : undefined
      if (!sets) fail("the container's capability sets (Cap* lines of /proc/<pid>/status)", 'could not read them', r)
      ctx.note(`CapEff ${hex(sets.effective)} (${capabilityNames(sets.effective).join(' ')})`)
      const rows: [string, bigint, bigint, string][] = [
        ['CapEff', sets.effective, KEPT, 'what the kernel checks'],
        ['CapBnd', sets.bounding, KEPT, 'the most any later execve can give back'],
        ['CapPrm', sets.permitted, KEPT, ''],
        ['CapInh', sets.inheritable, 0n, `empty (the engine was handed ${HANDED_DOWN.join(', ')} in it by its parent)`],
        ['CapAmb', sets.ambient, 0n, `empty (the engine was handed ${HANDED_DOWN.join(', ')} in it by its parent)`],
      ]
      for (const [name, value, expected, note] of rows) {
        if (value !== expected) fail(`${name} = ${hex(expected)}${expected ? ` (${KEPT_CAPABILITIES.join(' ')})` : ''}${note ? `: ${note}` : ''}`, `${name} = ${describeSet(value, expected)}`, r)
      }
      const nnp = statusField(status, 'NoNewPrivs')
      if (nnp !== '1') fail('NoNewPrivs: 1 in /proc/<pid>/status (no execve can grant privileges any more)', `NoNewPrivs: ${nnp ?? 'missing'}`, r)
    },
  },
  {
    id: '07.seccomp',
    title: 'a seccomp filter (read back from the kernel) refuses the calls of the deny-list with EPERM, and a user namespace cannot be made',
    why: 'capabilities do not cover everything: creating a user namespace needs none, and inside it the process has every capability again, with the kernel code that comes with it. A filter refuses calls by number, whatever the capabilities.',
    hint: '07.5',
    async run(ctx) {
      let status: string | undefined
      let filters: Instruction[][] | undefined
      let readError: string | undefined
      const r = await ctx.run({
        script: `e=$(unshare -U -r -m sh -c 'mount -t tmpfs none /mnt && echo mounted' 2>&1); echo "@mc userns=$? $e"; ${PAUSE}`,
        onReady: ({ pid }) => {
          status = readText(`/proc/${pid}/status`)
          try {
            filters = readSeccompFilters(pid!)
          } catch (error) {
            readError = (error as Error).message
          }
        },
      })
      requireLive(r)
      const mode = statusField(status, 'Seccomp')
      if (mode !== '2') fail('Seccomp: 2 in /proc/<pid>/status (a filter is installed)', `Seccomp: ${mode ?? 'missing'}`, r)
      const userns = requireFact(r, 'userns')
      if (userns.startsWith('0 ') || /mounted/.test(userns)) fail('unshare -U (a user namespace, then a tmpfs mounted in it) to be refused', `it worked: ${userns}`, r)
      if (!filters) {
        ctx.note(`the filter could not be read back (${readError}): judged by its effect only`)
        return
      }
      const arch = nativeArchitecture()
      const verdict = (name: string, args: number[] = [], nr = syscallNumber(name, arch)!, auditArch = AUDIT_ARCH[arch]): string =>
        describeVerdict(runFilters(filters!, { nr, arch: auditArch, args }))
      ctx.note(`${filters.length} filter(s), ${filters.reduce((n, f) => n + f.length, 0)} instructions`)
      for (const name of MUST_DENY) {
        const v = verdict(name)
        if (v !== 'ERRNO(EPERM)') fail(`${name}() refused with EPERM by the container's filter (read back from the kernel)`, v, r)
      }
      const cloneUser = verdict('clone', [CLONE_NEWUSER | SIGCHLD])
      if (cloneUser === 'ALLOW') fail('clone() with CLONE_NEWUSER refused (the flags are its first argument: the filter can see them)', 'ALLOW', r)
      const clone3 = verdict('clone3')
      if (clone3 !== 'ERRNO(ENOSYS)') fail('clone3() answered with ENOSYS (its flags are in a struct the filter cannot read; ENOSYS makes libc fall back to clone(), EPERM would make it give up)', clone3, r)
      for (const [name, args] of [...MUST_ALLOW.map((n) => [n, []] as const), ['clone', [SIGCHLD]] as const]) {
        const v = verdict(name, [...args])
        if (v !== 'ALLOW') fail(`${name}(${args.length ? 'SIGCHLD' : ''}) allowed: every program needs it`, v, r)
      }
      const foreign = verdict('getpid', [], 20, FOREIGN_ARCH[arch])
      if (foreign === 'ALLOW') fail('a call of another architecture (the 32-bit ABI) never allowed: its numbers mean other calls', 'ALLOW', r)
      if (arch === 'x86_64') {
        const x32 = verdict('getpid', [], 0x40000000 | 39)
        if (x32 === 'ALLOW') fail('a call of the x32 ABI (number with bit 30 set) never allowed', 'ALLOW', r)
      }
    },
  },
  {
    id: '07.refused',
    title: '`unshare -n` and `mount -t tmpfs` are refused (EPERM)',
    why: 'a container that can make namespaces and mount filesystems can rebuild its own rules: mount cgroupfs, /dev nodes, the host\'s disks.',
    hint: '07.4',
    async run(ctx) {
      let mounts: MountEntry[] = []
      const r = await ctx.run({
        script: `e=$(unshare -n true 2>&1); echo "@mc unshare=$? $e"; e=$(mount -t tmpfs none /mnt 2>&1); echo "@mc tmpfs=$? $e"; ${PAUSE}`,
        onReady: ({ pid }) => void (mounts = mountsOf(pid!) ?? []),
      })
      requireLive(r)
      const unshare = requireFact(r, 'unshare')
      if (!/Operation not permitted/.test(unshare)) fail('unshare -n to fail with EPERM ("Operation not permitted")', unshare.startsWith('0') ? 'it made a network namespace' : unshare, r)
      const tmpfs = requireFact(r, 'tmpfs')
      if (mountAt(mounts, '/mnt')?.fsType === 'tmpfs' || tmpfs.startsWith('0')) fail('mount -t tmpfs none /mnt to be refused', 'the tmpfs is mounted (in /proc/<pid>/mountinfo)', r)
      if (!/permission denied|not permitted/i.test(tmpfs)) fail('mount to fail with EPERM (busybox says "permission denied (are you root?)")', tmpfs, r)
    },
  },
  {
    id: '07.cgroup-escape',
    title: "the command cannot leave its cgroup: mounting cgroupfs and writing to /sys/fs/cgroup are refused, and 200 MB are still OOM-killed",
    why: "a container that can write its PID into the root cgroup's cgroup.procs, or raise its own limit, has no limits at all.",
    hint: '07.3',
    async run(ctx) {
      let cgroupFile: string | undefined
      let limits: CgroupLimits | undefined
      const version = cgroupVersion()
      const r = await ctx.run({
        script: cgroupEscapeScript(version, PAUSE),
        onReady: ({ pid }) => {
          cgroupFile = readText(`/proc/${pid}/cgroup`)
          limits = readLimits(pid!)
        },
      })
      requireLive(r)
      const line = cgroupFile?.split('\n').find((l) => (version === 2 ? l.startsWith('0::') : /:memory:/.test(l)))
      const where = line?.slice(line.indexOf(':', line.indexOf(':') + 1) + 1) ?? '?'
      const moved = r.facts.get('moved') ?? ''
      const unlimit = [...r.stdout.matchAll(/^@mc unlimit=(.*)$/gm)].map((m) => m[1]!)
      if (!/\/minicontainer\/mc-/.test(where)) {
        fail("the probe's shell to stay in the container's cgroup", `it moved itself to the cgroup ${where} (mount: ${r.facts.get('mount')}; write to cgroup.procs: ${moved || 'not tried'})`, r, moved.startsWith('0') ? '07.4' : '07.3')
      }
      const lifted = unlimit.filter((u) => u.startsWith('0 ')).map((u) => u.split(' ')[1])
      if (lifted.length) fail('its own memory limit out of its reach (no writable cgroup filesystem: /sys/fs/cgroup read-only, no mount of its own)', `it wrote "no limit" into ${lifted.join(' and ')}`, r, r.facts.get('mount')?.startsWith('0') ? '07.4' : '07.3')
      const dd = requireFact(r, 'dd')
      ctx.note(`dd exited ${dd}, oom_kill ${limits?.oomKills}, limit ${limits?.memoryLimit}`)
      if (dd !== '137' || !limits?.oomKills) fail('dd with a 200 MB buffer OOM-killed under the 100 MB limit (status 137, oom_kill >= 1)', `status ${dd}, oom_kill ${limits?.oomKills ?? 'missing'}, memory limit ${limits?.memoryLimit ?? 'none'}`, r)
    },
  },
  {
    id: '07.cgroupns',
    title: 'a cgroup namespace: the container sees its own cgroup (with its random memory limit) as the root, read-only at /sys/fs/cgroup',
    why: 'without a cgroup namespace /proc/self/cgroup and a cgroupfs show the host\'s whole tree, and a container that can write there can leave its limits.',
    hint: '07.1',
    async run(ctx) {
      const mib = randomInt(40, 90)
      const version = cgroupVersion()
      let mounts: MountEntry[] = []
      let hostNs: string | undefined
      let innerNs: string | undefined
      const r = await ctx.run({
        flags: ['--memory', `${mib}M`],
        script: [
          `echo "@mc self=$(grep -E '^0::|:memory:' /proc/self/cgroup | tr '\\n' ' ')"`,
          'for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do if [ -e $f ]; then echo "@mc limit=$(cat $f)"; fi; done',
          PAUSE,
        ].join('; '),
        onReady: ({ pid }) => {
          mounts = mountsOf(pid!) ?? []
          hostNs = readLink('/proc/self/ns/cgroup')
          innerNs = readLink(`/proc/${pid}/ns/cgroup`)
        },
      })
      requireLive(r)
      if (!innerNs || innerNs === hostNs) fail('a cgroup namespace of its own (/proc/<pid>/ns/cgroup differs from the host\'s)', `the host's (${hostNs})`, r)
      const self = requireFact(r, 'self').trim().split(' ').find((l) => (version === 2 ? l.startsWith('0::') : /:memory:/.test(l))) ?? ''
      if (!self.endsWith(':/')) fail('/proc/self/cgroup inside to show the container\'s cgroup as "/"', self || 'nothing', r)
      const top = mountAt(mounts, '/sys/fs/cgroup')
      const cgroupMounts = mounts.filter((m) => (m.fsType === 'cgroup' || m.fsType === 'cgroup2') && m.mountPoint.startsWith('/sys/fs/cgroup'))
      const memory = cgroupMounts.find((m) => (version === 2 ? m.mountPoint === '/sys/fs/cgroup' : (m.line.split(' - ')[1] ?? '').split(/[ ,]/).includes('memory')))
      if (!memory) fail(`the cgroup filesystem mounted at /sys/fs/cgroup inside (${version === 2 ? 'cgroup2' : 'a tmpfs with one cgroup mount per hierarchy, memory among them'})`, top ? `${top.fsType} at /sys/fs/cgroup, and no ${version === 2 ? 'cgroup2' : 'memory hierarchy'}` : 'nothing at /sys/fs/cgroup', r, '07.3')
      const writable = [top, ...cgroupMounts].filter((m): m is MountEntry => m !== undefined && !isReadOnly(m))
      if (writable.length) fail('every mount under /sys/fs/cgroup read-only', `writable: ${writable.map((m) => `${m.mountPoint} (${m.fsType})`).join(', ')}`, r, '07.3')
      // Seen from the host, a cgroup mount made in a cgroup namespace shows the cgroup it is rooted at.
      if (!/\/minicontainer\/mc-/.test(mountRoot(memory))) fail("the memory hierarchy mounted from inside the namespace, rooted at the container's own cgroup (mountinfo's root field, from the host)", mountRoot(memory), r, '07.1')
      const limit = requireFact(r, 'limit')
      if (Number(limit) !== mib * MiB) fail(`the container's own limit at the top of /sys/fs/cgroup (--memory ${mib}M = ${mib * MiB})`, limit, r, '07.3')
    },
  },
  {
    id: '07.disk',
    title: "a block device cannot be made: mknod of the checker's loop disk is refused, its token stays unread",
    why: 'a device node is a door to the hardware: with the major and minor of a host disk, root in the container reads (and mounts, and writes) the whole disk.',
    hint: '07.4',
    async run(ctx) {
      const why = whyNoLoopDisk()
      if (why) {
        ctx.note(`not checked: ${why}`)
        return
      }
      const disk = makeLoopDisk()
      ctx.mark(disk.token)
      ctx.mark(disk.nodeName)
      let mounts: MountEntry[] = []
      let r: RunResult
      try {
        r = await ctx.run({ script: diskEscapeScript(disk, PAUSE), onReady: ({ pid }) => void (mounts = mountsOf(pid!) ?? []) })
      } finally {
        const strays = removeDiskNodesOnHost(disk)
        if (strays.length) ctx.note(`device nodes made on the host itself, removed by the checker: ${strays.join(', ')}`)
        const held = await removeLoopDisk(disk)
        if (held) ctx.note(held)
      }
      requireLive(r)
      const mounted = mounts.filter((m) => m.line.split(' ')[2] === `${disk.major}:${disk.minor}`)
      const leaked = [...r.facts].filter(([key, value]) => /^(token|raw)-/.test(key) && value.includes(disk.token)).map(([key]) => key)
      if (mounted.length || leaked.length) {
        fail("the checker's disk out of reach", `the container read its token (${[...leaked, ...mounted.map((m) => `mounted at ${m.mountPoint}`)].join(', ')})`, r)
      }
      for (const key of ['mknod-dev', 'mknod-tmp']) {
        const result = requireFact(r, key)
        if (!/Operation not permitted/.test(result)) fail(`mknod of a block device refused with EPERM (no CAP_MKNOD) (${key.slice(6) === 'dev' ? '/dev' : '/tmp'})`, result.startsWith('0') ? 'the node was made' : result, r)
      }
    },
  },
  {
    id: '07.proc',
    title: '/proc/kcore, /proc/keys, /proc/timer_list masked; /proc/sys and /proc/sysrq-trigger read-only: `h` never reaches the kernel',
    why: "/proc is the kernel's: /proc/sysrq-trigger reboots or crashes the host with one letter, /proc/sys changes the host's kernel settings, /proc/kcore is its memory.",
    hint: '07.2',
    async run(ctx) {
      const logBefore = kernelLogEnd()
      let mounts: MountEntry[] = []
      const r = await ctx.run({
        // Whether /proc/sys is writable, found out without writing: `: >>` opens the file for writing (EROFS on a
        // read-only mount) and writes nothing, so an engine that ran the probe in the host's namespaces changes no
        // setting of the host. (busybox's `test -w` looks only at the mode bits.)
        script: [sysrqScript(), 'e=$( { : >> /proc/sys/kernel/domainname; } 2>&1 ); echo "@mc procsys=$? $e"', PAUSE].join('; '),
        onReady: ({ pid }) => void (mounts = mountsOf(pid!) ?? []),
      })
      requireLive(r)
      const sysrqLines = kernelLogSince(logBefore, /sysrq/i)
      const exists = (path: string): boolean => fs.existsSync(path) // never read them: /proc/kcore is the size of the memory
      for (const path of ['/proc/kcore', '/proc/keys', '/proc/timer_list'].filter(exists)) {
        if (!isMasked(mounts, path)) fail(`${path} masked: /dev/null bound over it (or an empty read-only tmpfs)`, mountAt(mounts, path) ? `${mountAt(mounts, path)!.fsType} at ${path}` : `the kernel's own ${path}`, r)
      }
      for (const path of ['/proc/sys', '/proc/sysrq-trigger'].filter(exists)) {
        if (!isReadOnly(mountAt(mounts, path)) && !isMasked(mounts, path)) fail(`${path} read-only (a read-only bind mount of itself)`, mountAt(mounts, path) ? 'mounted, but writable' : 'writable (nothing mounted over it)', r)
      }
      const procsys = requireFact(r, 'procsys')
      if (!/Read-only file system/.test(procsys)) fail('/proc/sys/kernel/domainname refused when opened for writing (EROFS: Read-only file system)', procsys.startsWith('0') ? 'it opened for writing' : procsys, r)
      const sysrq = requireFact(r, 'sysrq')
      if (sysrq === 'missing') ctx.note('this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ off): the write could not be tried')
      else if (sysrqLines.length) fail('`echo h > /proc/sysrq-trigger` never to reach the kernel', `the kernel logged: ${sysrqLines[0]}`, r)
    },
  },
  {
    id: '07.sys',
    title: '/sys is mounted read-only, and shows the container\'s network namespace (only lo)',
    why: 'programs read /sys; a writable sysfs changes the host\'s kernel and devices, and one mounted before the network namespace shows the host\'s interfaces.',
    hint: '07.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const sys = mountAt(h.mounts, '/sys')
      if (!sys || sys.fsType !== 'sysfs') fail('a sysfs mounted at /sys', sys ? `${sys.fsType} at /sys` : 'nothing mounted at /sys', p.run)
      if (!isReadOnly(sys)) fail('/sys mounted read-only', `mounted with ${mountOptions(sys).join(',')}`, p.run)
      const net = requireFact(p.run, 'sysnet').trim()
      if (net !== 'lo') fail('/sys/class/net to list only lo (sysfs mounted after the network namespace was made)', net || 'nothing', p.run)
    },
  },
  {
    id: '07.dev-nodev',
    title: '/dev is a tmpfs mounted nodev: a device node made in it does not open',
    why: 'the container\'s devices are bind mounts of the host\'s few harmless ones; nodev makes any other node in /dev useless, even for a process that could make one.',
    hint: '07.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const dev = mountAt(h.mounts, '/dev')
      if (!dev || dev.fsType !== 'tmpfs') fail('a tmpfs at /dev', dev ? `${dev.fsType} at /dev` : 'nothing mounted at /dev', p.run)
      if (!mountOptions(dev).includes('nodev')) fail('/dev mounted nodev', `mounted with ${mountOptions(dev).join(',')}`, p.run)
    },
  },
]
