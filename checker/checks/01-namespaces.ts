// Step 01: the command runs in new PID, UTS, mount and IPC namespaces.
// Inside facts come from a /bin/sh probe; the proof comes from the host: /proc/<pid>/ns/*, NSpid, the
// host's own hostname and mount table.
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import { fail, howItEnded, randomInt, requireFact, requireHost, requireLive, type Check } from '../check.ts'
import { mountsOf, nsLink, procStat, sleep } from '../proc.ts'
import { timeoutScale } from '../../lib/timeouts.ts'
import { PAUSE } from '../probe.ts'

/** The signals Node sets to ignored in every process it runs (SIGPIPE, SIGXFSZ). */
const NODE_IGNORES = [13, 25]

/** The UTS namespace is made in enterNamespaces(), not where the hostname is set. */
const UTS_HINT = '01.2'
/** So is the mount namespace: without one, no propagation setting helps. */
export const MOUNT_NS_HINT = '01.2'

export const checks: Check[] = [
  {
    id: '01.run',
    title: 'runs the command and passes its exit status through',
    why: "a container engine is first a way to run a program: scripts and CI rely on its exit status being the command's own.",
    async run(ctx) {
      const code = randomInt(3, 99)
      const r = await ctx.run({ script: `echo "@mc said=$0"; exit ${code}` })
      const said = r.facts.get('said')
      if (said !== r.token) fail(`the command's output "@mc said=${r.token}"`, said === undefined ? `no such line (${r.timedOut ? 'the engine timed out' : `exit status ${r.exitCode}`})` : `"@mc said=${said}"`, r)
      if (r.exitCode !== code) fail(`exit status ${code} (the command's own)`, r.timedOut ? 'a timeout' : `exit status ${r.exitCode}`, r, '01.5')
    },
  },
  {
    id: '01.pid1',
    title: 'the command is PID 1 in a PID namespace of its own',
    why: "in its own PID namespace the container cannot see or signal the host's processes, and its first process is the init that reaps the others.",
    hint: '01.1',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const inside = requireFact(p.run, 'pid')
      if (h.ns.pid.inside === h.ns.pid.host) fail(`the container's PID namespace to differ from the host's (${h.ns.pid.host})`, `the same one: ${h.ns.pid.inside}`, p.run)
      // In a PID namespace of its own but not PID 1: init started the command as a child instead of becoming it.
      const pid1 = p.run.facts.get('init')
      if (inside !== '1' || h.nsPid !== 1) fail('$$ = 1 inside, and NSpid ending in 1 in /proc/<pid>/status on the host', `$$ = ${inside}, NSpid ends in ${h.nsPid}${pid1 ? `; PID 1 is "${pid1.slice(0, 100)}": init must become the command (execve), not start it as a child` : ''}`, p.run, pid1 ? null : undefined)
    },
  },
  {
    id: '01.hostname',
    title: 'the hostname is the requested one (and "container" by default), in a UTS namespace of its own',
    why: 'the hostname is the first sign that the container is a machine of its own; it must not be hard-coded.',
    hint: '01.4',
    async run(ctx) {
      let plainNs = { inside: '', host: '' }
      const [p, plain] = await Promise.all([
        ctx.shared(),
        ctx.run({
          script: `echo "@mc hostname=$(cat /proc/sys/kernel/hostname)"; ${PAUSE}`,
          onReady: ({ pid }) => void (pid !== undefined && (plainNs = { inside: nsLink(pid, 'uts') ?? '?', host: nsLink('self', 'uts') ?? '?' })),
        }),
      ])
      const h = requireHost(p)
      // The namespaces first: without a UTS namespace of its own, both runs rename the one host, and whichever
      // was last decides what each probe printed.
      if (h.ns.uts.inside === h.ns.uts.host) fail(`the container's UTS namespace to differ from the host's (${h.ns.uts.host})`, `the same one: ${h.ns.uts.inside}`, p.run, UTS_HINT)
      requireLive(plain)
      if (plainNs.inside === plainNs.host) fail(`the container's UTS namespace to differ from the host's (${plainNs.host})`, `the same one: ${plainNs.inside}`, plain, UTS_HINT)
      const named = requireFact(p.run, 'hostname')
      if (named !== p.hostname) fail(`hostname "${p.hostname}" inside the container (--hostname ${p.hostname})`, `"${named}"`, p.run)
      const dflt = requireFact(plain, 'hostname')
      if (dflt !== 'container') fail('hostname "container" inside the container (no --hostname)', `"${dflt}"`, plain)
    },
  },
  {
    id: '01.host-hostname',
    title: "the host's hostname is unchanged, while the container runs and after",
    why: "sethostname outside a UTS namespace renames the learner's own machine (and breaks sudo, mDNS, prompts...).",
    hint: '01.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const before = p.hostHostnameBefore
      // With a UTS namespace of its own the host was renamed anyway: the hostname was set before the unshare.
      const hint = h.ns.uts.inside === h.ns.uts.host ? UTS_HINT : '01.4'
      if (h.hostHostname !== before || p.hostHostnameAfter !== before) fail(`the host's hostname to stay "${before}"`, `"${h.hostHostname}" while the container ran, "${p.hostHostnameAfter}" after${hint === '01.4' ? ' (the container has a UTS namespace of its own: was the hostname set before it existed?)' : ''}`, p.run, hint)
    },
  },
  {
    id: '01.mount',
    title: 'a mount made inside does not appear on the host (private mount namespace)',
    why: 'on systemd machines "/" is a shared mount: without a private mount namespace every mount the container makes (proc, dev, tmpfs...) propagates to the host and stays there.',
    hint: '01.3',
    async run(ctx) {
      // Twice, in throw-away "hosts" whose mounts are shared (worlds.ts), so a missing MS_PRIVATE shows even on a
      // host whose "/" is private: once with everything on the root mount, once with the rootfs and /tmp on a
      // shared mount of their own, where a private remount of "/" alone (without MS_REC) leaves them shared.
      // From step 07 on the command may not mount (no CAP_SYS_ADMIN, seccomp): the checker then mounts the tmpfs
      // into the container's mount namespace itself (nsenter), which tests the propagation the same way.
      const runs = await Promise.all((['shared-root', 'shared-rootfs'] as const).map(async (world) => {
        let seenInWrapper = false
        let seenOnHost = false
        let sameNs = false
        let mountedFromHost = ''
        const r = await ctx.run({
          world,
          script: `e=$(mount -t tmpfs "$0" /tmp 2>&1) && echo "@mc mounted=yes" || echo "@mc mounted=no $e"; ${PAUSE}`,
          onReady: ({ pid, rootPid, token, facts }) => {
            if (pid !== undefined && /^no .*permission denied/.test(facts.get('mounted') ?? '')) {
              const m = spawnSync('nsenter', ['--target', String(pid), '--mount', '--root', '--', 'mount', '-t', 'tmpfs', token, '/tmp'], { encoding: 'utf8' })
              mountedFromHost = m.status === 0 ? 'yes' : `no (nsenter: ${(m.stderr || m.error?.message || '').trim()})`
            }
            seenInWrapper = (mountsOf(rootPid) ?? []).some((m) => m.source === token)
            seenOnHost = (mountsOf('self') ?? []).some((m) => m.source === token)
            if (pid !== undefined) sameNs = nsLink(pid, 'mnt') === nsLink(rootPid, 'mnt')
          },
        })
        return { world, r, seenInWrapper, seenOnHost, sameNs, mountedFromHost }
      }))
      for (const { world, r, seenInWrapper, seenOnHost, sameNs, mountedFromHost } of runs) {
        requireLive(r)
        const mounted = requireFact(r, 'mounted')
        if (mounted !== 'yes' && mountedFromHost !== 'yes') fail('the tmpfs mount inside the container to succeed', mountedFromHost ? `${mounted}; from the host: ${mountedFromHost}` : mounted, r)
        if (sameNs) fail("the container's mount namespace to differ from the host's", 'the same one', r, MOUNT_NS_HINT)
        const where = world === 'shared-rootfs' ? ' (where /tmp and the rootfs are shared mounts of their own: is every mount made private, recursively?)' : ''
        if (seenInWrapper || seenOnHost) fail(`the tmpfs "${r.token}" mounted inside to be invisible on the host`, `it appeared in the host's mount table${where}`, r)
      }
    },
  },
  {
    id: '01.ipc',
    title: 'an IPC namespace of its own',
    why: "System V shared memory, semaphores and message queues are global otherwise: a container could read or destroy the host's.",
    hint: '01.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      if (h.ns.ipc.inside === h.ns.ipc.host) fail(`the container's IPC namespace to differ from the host's (${h.ns.ipc.host})`, `the same one: ${h.ns.ipc.inside}`, p.run)
    },
  },
  {
    id: '01.signal-exit',
    title: 'a command killed by a signal makes the engine exit 128 + its number (killed from the host, crashed, stopped)',
    why: 'scripts, CI and docker read 128 + n as "died of signal n" (137: killed, 139: crashed): an engine that exits 125 or 0 instead hides a crash or a kill.',
    hint: '01.5',
    async run(ctx) {
      // Three ways to die of a signal, none of them sent by the container to itself (PID 1 ignores those):
      // SIGKILL from the host, which the kernel always delivers; SIGSEGV from the kernel itself (a shell
      // recursing into a small stack); a stop signal (random) sent to the engine, which stops the container.
      // Not SIGINT: busybox sh catches it, and what a command does with a signal it handles is its own business.
      const stop = (['SIGTERM', 'SIGHUP'] as const)[randomInt(0, 1)]!
      const [killed, crashed, stopped] = await Promise.all([
        ctx.run({ script: `${PAUSE}; sleep 10`, onReady: ({ pid }) => void (pid !== undefined && process.kill(pid, 'SIGKILL')) }),
        ctx.run({ script: 'echo "@mc crashing=yes"; ulimit -s 256; f() { f; }; f' }),
        ctx.run({ script: `${PAUSE}; sleep 10`, onReady: ({ rootPid }) => void process.kill(rootPid, stop) }),
      ])
      const expect = (r: typeof killed, signal: NodeJS.Signals, how: string): void => {
        const status = 128 + os.constants.signals[signal]
        if (r.exitCode !== status) fail(`exit status ${status} (128 + ${signal}=${os.constants.signals[signal]}): ${how}`, r.timedOut ? 'a timeout' : `exit status ${r.exitCode}`, r)
      }
      requireLive(killed)
      expect(killed, 'SIGKILL', 'the checker killed the command from the host')
      requireFact(crashed, 'crashing')
      expect(crashed, 'SIGSEGV', 'the command crashed: the kernel killed it with SIGSEGV')
      requireLive(stopped)
      expect(stopped, stop, `the checker sent ${stop} to the engine, which stops the container with it`)
    },
  },
  {
    id: '01.fds',
    title: "the command inherits no open file of the engine (only stdin, stdout, stderr)",
    why: "an open file descriptor of the host is a way out: runc's CVE-2024-21626 leaked one to /sys/fs/cgroup, and `cd /proc/self/fd/N` put the container on the host's filesystem.",
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      if (h.openFiles.length) fail("only fds 0, 1 and 2 open in the command (/proc/<pid>/fd on the host; execCommand() in lib/init/container.ts marks every other one close-on-exec before execve)", h.openFiles.slice(0, 6).join(', '), p.run)
    },
  },
  {
    id: '01.sigterm',
    title: 'SIGTERM to the engine reaches the command, and the engine exits with its status',
    why: '`docker stop`, Ctrl-C and systemd stop a container through its engine: a signal that is not passed on kills the command without a chance to save its work, and the engine without removing its cgroup.',
    async run(ctx) {
      const code = randomInt(3, 99)
      let stillRan = false
      const r = await ctx.run({
        script: `trap 'echo "@mc term=caught"; exit ${code}' TERM; ${PAUSE}`,
        onReady: async ({ pid, rootPid }) => {
          process.kill(rootPid, 'SIGTERM')
          stillRan = !(await gone(pid, 3000))
        },
      })
      requireLive(r)
      if (r.facts.get('term') !== 'caught') {
        fail('the command\'s SIGTERM trap to run (the engine passes SIGTERM on to the container\'s PID 1: trapStopSignals() in run())',
          r.signal ? `the engine itself died of ${r.signal}, and the container with it (its trap never ran)` : stillRan ? 'the command never got it' : `no trap ran (${howItEnded(r)})`, r)
      }
      if (r.exitCode !== code) fail(`exit status ${code} (the command's own, after its trap)`, howItEnded(r), r)
    },
  },
  {
    id: '01.engine-killed',
    title: 'when the engine is killed (SIGKILL), the container dies with it',
    why: 'an engine can be killed without a chance to clean up (OOM, kill -9): a container that outlives it runs on with nobody to stop it, wait for it or remove its cgroup.',
    async run(ctx) {
      let outlived = false
      const r = await ctx.run({
        // The pause on stdin ends when the engine dies (its stdin is closed): then the same process goes on
        // (exec, no child that a missing PID namespace would leave behind), unless it died with its engine.
        script: `${PAUSE}; exec sleep 60`,
        onReady: async ({ pid, rootPid }) => {
          process.kill(rootPid, 'SIGKILL')
          outlived = !(await gone(pid, 1500))
        },
      })
      requireLive(r)
      if (outlived) fail("the container's command to die within 1.5 s of its engine (init asks the kernel for that: prctl(PR_SET_PDEATHSIG) in init())", 'it was still running (killed by the checker)', r)
    },
  },
  {
    id: '01.signals-default',
    title: 'the command starts with SIGPIPE and SIGXFSZ at their defaults (Node ignores them; an ignored signal stays ignored across execve)',
    why: 'a command that finds SIGPIPE ignored never learns that its reader went away: `yes | head` never ends, and a pipeline hangs instead of stopping.',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const left = (h.ignoredSignals ?? []).filter((s) => NODE_IGNORES.includes(s))
      if (left.length) fail("SIGPIPE and SIGXFSZ not ignored by the command (SigIgn in /proc/<pid>/status; execCommand() in lib/init/container.ts gives them back their default before execve)", `ignored: ${left.map((s) => (s === 13 ? 'SIGPIPE' : 'SIGXFSZ')).join(', ')}`, p.run)
    },
  },
]

/** Waits until process `pid` is gone (or a zombie), at most `ms` (scaled); whether it went. */
async function gone(pid: number | undefined, ms: number): Promise<boolean> {
  if (pid === undefined) return true
  const deadline = Date.now() + ms * timeoutScale()
  for (;;) {
    const state = procStat(pid)?.state
    if (state === undefined || state === 'Z') return true
    if (Date.now() > deadline) return false
    await sleep(50)
  }
}
