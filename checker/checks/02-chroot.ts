// Step 02: the container sees Alpine's root filesystem, its own /proc and a working minimal /dev, and none of
// the mounts it makes stay on the host.
import { fail, requireFact, requireHost, requireLive, type Check } from '../check.ts'
import { mountsOf } from '../proc.ts'
import { PAUSE } from '../probe.ts'

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
      if (!pids.includes('1') || !init.includes(p.run.token)) fail("/proc/1 inside to be the container's command", `/proc lists ${pids.length} processes; /proc/1/cmdline is "${init.slice(0, 80)}"`, p.run)
      // The probe's own helpers (ls, grep, tr, subshells) come and go: allow a few more than the host counted.
      if (pids.length > h.processesInNamespace + 6) fail(`/proc to list only the container's processes (about ${h.processesInNamespace})`, `${pids.length} processes: ${pids.slice(0, 12).join(' ')}${pids.length > 12 ? ' ...' : ''}`, p.run)
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
      let during: string[] = []
      // Twice: in a throw-away "host" namespace whose mounts are shared, as on a systemd host (what the
      // container mounts must not show up there while it runs), and on the real host (nothing may stay).
      const [r, plain] = await Promise.all([
        ctx.run({
          sharedMounts: true,
          script: `echo "@mc started=yes"; ${PAUSE}`,
          onReady: ({ rootPid }) => {
            during = (mountsOf(rootPid) ?? []).filter((m) => under(m.mountPoint)).map((m) => `${m.fsType} on ${m.mountPoint}`)
          },
        }),
        ctx.run({ script: 'echo "@mc started=yes"' }),
      ])
      requireLive(r)
      const after = (mountsOf('self') ?? []).filter((m) => !before.has(m.id) && under(m.mountPoint)).map((m) => `${m.fsType} on ${m.mountPoint}`)
      if (after.length) fail('no mount under the rootfs left on the host after the container exited', after.join(', '), plain)
      if (during.length) fail('no mount under the rootfs in the host\'s mount table while the container runs', during.join(', '), r)
    },
  },
]
