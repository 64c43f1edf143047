// Step 01: the command runs in new PID, UTS, mount and IPC namespaces.
// Inside facts come from a /bin/sh probe; the proof comes from the host: /proc/<pid>/ns/*, NSpid, the
// host's own hostname and mount table.
import { fail, randomInt, requireFact, requireHost, requireLive, type Check } from '../check.ts'
import { mountsOf, nsLink } from '../proc.ts'
import { PAUSE } from '../probe.ts'

/** The UTS namespace is made in enterNamespaces(), not where the hostname is set. */
const UTS_HINT = '01.2'

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
      if (r.exitCode !== code) fail(`exit status ${code} (the command's own)`, r.timedOut ? 'a timeout' : `exit status ${r.exitCode}`, r)
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
      if (inside !== '1' || h.nsPid !== 1) fail('$$ = 1 inside, and NSpid ending in 1 in /proc/<pid>/status on the host', `$$ = ${inside}, NSpid ends in ${h.nsPid}`, p.run)
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
      const named = requireFact(p.run, 'hostname')
      if (named !== p.hostname) fail(`hostname "${p.hostname}" inside the container (--hostname ${p.hostname})`, `"${named}"`, p.run)
      if (h.ns.uts.inside === h.ns.uts.host) fail(`the container's UTS namespace to differ from the host's (${h.ns.uts.host})`, `the same one: ${h.ns.uts.inside}`, p.run, UTS_HINT)
      requireLive(plain)
      const dflt = requireFact(plain, 'hostname')
      if (dflt !== 'container') fail('hostname "container" inside the container (no --hostname)', `"${dflt}"`, plain)
      if (plainNs.inside === plainNs.host) fail(`the container's UTS namespace to differ from the host's (${plainNs.host})`, `the same one: ${plainNs.inside}`, plain, UTS_HINT)
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
      if (h.hostHostname !== before || p.hostHostnameAfter !== before) fail(`the host's hostname to stay "${before}"`, `"${h.hostHostname}" while the container ran, "${p.hostHostnameAfter}" after`, p.run)
    },
  },
  {
    id: '01.mount',
    title: 'a mount made inside does not appear on the host (private mount namespace)',
    why: 'on systemd machines "/" is a shared mount: without a private mount namespace every mount the container makes (proc, dev, tmpfs...) propagates to the host and stays there.',
    hint: '01.3',
    async run(ctx) {
      // The run happens in a throw-away mount namespace whose mounts are all shared, as systemd makes them,
      // so a missing MS_PRIVATE shows here even on a host whose "/" is private.
      let seenInWrapper = false
      let seenOnHost = false
      let sameNs = false
      const r = await ctx.run({
        sharedMounts: true,
        script: `mount -t tmpfs "$0" /tmp && echo "@mc mounted=yes"; ${PAUSE}`,
        onReady: ({ pid, rootPid, token }) => {
          seenInWrapper = (mountsOf(rootPid) ?? []).some((m) => m.source === token)
          seenOnHost = (mountsOf('self') ?? []).some((m) => m.source === token)
          if (pid !== undefined) sameNs = nsLink(pid, 'mnt') === nsLink(rootPid, 'mnt')
        },
      })
      requireLive(r)
      const mounted = requireFact(r, 'mounted')
      if (mounted !== 'yes') fail('the tmpfs mount inside the container to succeed', mounted, r)
      if (sameNs) fail("the container's mount namespace to differ from the host's", 'the same one', r)
      if (seenInWrapper || seenOnHost) fail(`the tmpfs "${r.token}" mounted inside to be invisible on the host`, "it appeared in the host's mount table", r)
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
]
