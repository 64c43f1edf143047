// Step 02: the container sees Alpine's root filesystem, its own /proc and a working minimal /dev, and none of
// the mounts it makes stay on the host.
import { fail, requireFact, requireHost, requireLive, type Check, type TodoId } from '../check.ts'
import { containerEnvironment } from '../../lib/environment.ts'
import { rootOf } from '../containerfs.ts'
import { mountsOf, nsLink, type MountEntry } from '../proc.ts'
import { PAUSE } from '../probe.ts'
import { isWorldMount, type MountWorld } from '../worlds.ts'
import { MOUNT_NS_HINT } from './01-namespaces.ts'

/** The variables a container's command gets: the names of the project's containerEnvironment() (lib/environment.ts). */
const CONTAINER_ENV = Object.keys(containerEnvironment('x'))

export const checks: Check[] = [
  {
    id: '02.rootfs',
    title: "the root directory is Alpine's (/etc/os-release says ID=alpine)",
    why: "a container brings its own userland: the command must see the image's files, not the host's.",
    hint: '02.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const id = requireFact(p.run, 'id')
      if (id !== 'alpine') fail('ID=alpine in /etc/os-release inside the container', `ID=${id}`, p.run)
      if (h.rootIsHosts) fail("the container's root directory (/proc/<pid>/root on the host) to differ from the host's /", "the host's own root", p.run)
      if (!/^ID=alpine$/m.test(h.osRelease ?? '')) fail("/proc/<pid>/root/etc/os-release, read from the host, to be Alpine's", h.osRelease === undefined ? 'unreadable' : (h.osRelease.split('\n').find((l) => l.startsWith('ID=')) ?? 'no ID line'), p.run)
    },
  },
  {
    id: '02.host-file',
    title: 'a file on the host (random name) is not visible inside',
    why: "with the host's root visible, a container reads (and, as root, rewrites) the host's files: /etc/shadow, ssh keys, everything.",
    hint: '02.2',
    async run(ctx) {
      const p = await ctx.shared()
      requireHost(p)
      const visible = requireFact(p.run, 'visible')
      if (visible !== 'no') fail(`the host's /${p.secret} to be invisible inside`, 'the container can see it', p.run)
    },
  },
  {
    id: '02.proc',
    title: '/proc is mounted and lists only the container\'s processes',
    why: 'ps, top and many programs read /proc; the host\'s /proc would show (and let the container poke at) every host process.',
    hint: '02.3',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const pids = requireFact(p.run, 'pids').trim().split(/\s+/).filter(Boolean)
      const init = requireFact(p.run, 'init')
      if (!h.procMounted) fail("a proc filesystem mounted on /proc in the container's mount table (/proc/<pid>/mountinfo)", 'none', p.run)
      if (h.procIsHosts) fail("a proc filesystem of the container's own on /proc", "the host's own /proc (the same filesystem, bind-mounted): it shows and lets the container signal every process of the host", p.run)
      // A proc of the host's PID namespace: the container has none of its own (01.1), or proc was mounted by a
      // process outside it.
      const pidHint = h.ns.pid.inside === h.ns.pid.host ? '01.1' : undefined
      if (!pids.includes('1') || !init.includes(p.run.token)) fail("/proc/1 inside to be the container's command", `/proc lists ${pids.length} processes; /proc/1/cmdline is "${init.slice(0, 80)}"`, p.run, pidHint)
      // The probe's own helpers (ls, grep, tr, subshells) come and go: allow a few more than the host counted.
      if (pids.length > h.processesInNamespace + 6) fail(`/proc to list only the container's processes (about ${h.processesInNamespace})`, `${pids.length} processes: ${pids.slice(0, 12).join(' ')}${pids.length > 12 ? ' ...' : ''}`, p.run, pidHint)
    },
  },
  {
    id: '02.dev',
    title: '/dev/null and /dev/zero work',
    why: 'countless programs write to /dev/null or read /dev/zero; Alpine\'s minirootfs ships an empty /dev.',
    hint: '02.1',
    async run(ctx) {
      const p = await ctx.shared()
      requireHost(p)
      const nul = requireFact(p.run, 'null')
      const zero = requireFact(p.run, 'zero')
      if (nul !== 'char' || p.run.facts.get('nullwrite') !== 'ok') fail('/dev/null: a character device that accepts writes', nul === 'char' ? 'a write to it failed' : 'no character device /dev/null', p.run)
      if (zero !== '0000000000000000') fail('8 zero bytes read from /dev/zero', zero === 'missing' ? 'no character device /dev/zero' : `"${zero}"`, p.run)
    },
  },
  {
    id: '02.no-mounts-left',
    title: 'nothing the container mounts shows up or stays on the host',
    why: 'mounts of /proc and /dev under the rootfs that reach the host pile up with every run and make the rootfs impossible to delete.',
    hint: '01.3',
    async run(ctx) {
      const rootfs = ctx.rootfs
      const under = (mp: string): boolean => rootfs !== undefined && (mp === rootfs || mp.startsWith(rootfs + '/'))
      const before = new Set((mountsOf('self') ?? []).map((m) => m.id))
      // Three times: in throw-away "hosts" whose mounts are shared as on a systemd host, once with the rootfs on the
      // root mount and once with it on a shared mount of its own (worlds.ts): what the container mounts must not
      // show up there while it runs; and on the real host, where nothing may show up nor stay.
      const watch = async (world: MountWorld | undefined) => {
        let during: string[] = []
        let hint: TodoId | undefined
        const r = await ctx.run({
          world,
          script: `echo "@mc started=yes"; ${PAUSE}`,
          onReady: ({ pid, rootPid }) => {
            const table = (world ? mountsOf(rootPid) : mountsOf('self')) ?? []
            const host = world ? table.filter((m) => !isWorldMount(m, table)) : table.filter((m) => !before.has(m.id))
            during = host.filter((m) => under(m.mountPoint)).map((m) => `${m.fsType} on ${m.mountPoint}`)
            if (pid !== undefined && during.length) hint = whoseMounts(pid, rootPid, during)
          },
        })
        return { r, during, hint }
      }
      const runs = await Promise.all([watch('shared-root'), watch('shared-rootfs'), watch(undefined)])
      const plain = runs[2].r
      requireLive(plain)
      const after = (mountsOf('self') ?? []).filter((m) => !before.has(m.id) && under(m.mountPoint)).map((m) => `${m.fsType} on ${m.mountPoint}`)
      if (after.length) fail('no mount under the rootfs left on the host after the container exited', after.join(', '), plain, runs.find((x) => x.hint)?.hint)
      for (const [i, { r, during, hint }] of runs.entries()) {
        requireLive(r)
        const where = i === 1 ? ' (the rootfs on a shared mount of its own)' : ''
        if (during.length) fail(`no mount under the rootfs in the host's mount table while the container runs${where}`, during.join(', '), r, hint)
      }
    },
  },
  {
    id: '02.cwd',
    title: "the command's working directory is inside its root",
    why: 'chroot changes what "/" means, not where the process stands: a working directory left on the host lets `cd ..` walk up to the host\'s / and read (or, as root, rewrite) everything.',
    hint: '02.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      if (!h.cwd) fail("to read the command's working directory from the host (/proc/<pid>/cwd)", 'the process was gone', p.run)
      if (!h.cwd.inside) fail(`the working directory (/proc/<pid>/cwd) inside the root directory (${h.cwd.root})`, `${h.cwd.cwd}: outside it, on the host, so \`cd ..\` leads out of the container`, p.run)
    },
  },
  {
    id: '02.dev-nodes',
    title: '/dev holds only the basic devices, on a tmpfs of its own: no disk, nothing else of the host',
    why: "with the host's /dev (or any block device) inside, the container can read and write the machine's disks directly, whatever its root directory.",
    hint: '02.1',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      if (h.devProblems.length) fail("a tmpfs on /dev with only null, zero, full, random, urandom and tty (read from the host through /proc/<pid>/root/dev and /proc/<pid>/mountinfo)", h.devProblems.slice(0, 6).join('; ') + (h.devProblems.length > 6 ? `; ... (${h.devProblems.length} problems)` : ''), p.run)
    },
  },
  {
    id: '02.mounts',
    title: "the only mounts the command can reach are its own: root, /proc, /dev (no folder of the host)",
    why: "a bind mount of the host's / or of any host folder puts the host's files back inside the container, chroot or not. No step mounts anything but /dev, /dev/shm and /proc.",
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const extra = h.unexpectedMounts
      if (!extra.length) return
      // Evidence for the TODO: a mount under /dev belongs to the /dev one, a proc to the /proc one.
      const under = (dir: string) => (m: MountEntry): boolean => m.mountPoint === dir || m.mountPoint.startsWith(dir + '/')
      // With the host's own root, every mount of the host is reachable: that is the chroot's (02.2).
      const hint = h.rootIsHosts ? '02.2' : extra.every(under('/dev')) ? '02.1' : extra.every(under('/proc')) ? '02.3' : undefined
      const shown = extra.slice(0, 5).map((m) => `${m.fsType} ${m.source}${rootOf(m) === '/' ? '' : `[${rootOf(m)}]`} on ${m.mountPoint}`)
      fail("only the container's root, proc on /proc and its /dev in its mount table (/proc/<pid>/mountinfo, read from the host)", `${shown.join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}`, p.run, hint)
    },
  },
  {
    id: '02.env',
    title: "the command's environment is the container's: nothing from the engine's (a random variable planted there)",
    why: "the engine runs in the learner's session: its environment holds SSH agent sockets, tokens, SUDO_* and paths of the host, none of which belongs in a container.",
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      if (!h.environment) fail("to read the command's environment from the host (/proc/<pid>/environ)", 'the process was gone', p.run)
      const extra = [...h.environment.keys()].filter((name) => !CONTAINER_ENV.includes(name))
      const canary = [...h.environment].filter(([name, value]) => name === p.canary.name || value.includes(p.canary.value)).map(([name]) => name)
      if (extra.length || canary.length) {
        fail(`only ${CONTAINER_ENV.join(', ')} in the command's environment (/proc/<pid>/environ; the engine gives it containerEnvironment(), lib/environment.ts, in run())`,
          `${extra.length} variable(s) of the engine's environment: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', ...' : ''}${canary.length ? ` (with the checker's canary ${p.canary.name})` : ''}`, p.run)
      }
    },
  },
]

/**
 * Why the container's mounts are in the host's table, from the evidence: no mount namespace of its own (01.2);
 * its mounts still shared, so they propagate (01.3); or all of them private, so they were made from the host's side
 * and not inside the container (the TODO that mounts there).
 */
function whoseMounts(pid: number, rootPid: number, seen: string[]): TodoId {
  if (nsLink(pid, 'mnt') === nsLink(rootPid, 'mnt')) return MOUNT_NS_HINT
  if ((mountsOf(pid) ?? []).some((m) => m.optional.some((o) => o.startsWith('shared:')))) return '01.3'
  if (seen.some((s) => / on \S*\/dev(\/|$)/.test(s))) return '02.1'
  if (seen.some((s) => / on \S*\/proc$/.test(s))) return '02.3'
  return '01.3'
}
