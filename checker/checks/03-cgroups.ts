// Step 03: a cgroup per container, with memory (no swap), CPU and pids limits that the kernel enforces.
// Judged by the kernel's own files, read from the host while the container runs: the cgroup the container's
// process is in (/proc/<pid>/cgroup), its limits, its oom_kill counter, the CPU time the process got.
import { fail, howItEnded, randomInt, requireFact, requireHost, requireLive, type Check } from '../check.ts'
import { CONTROLLERS, describePlacement, placement, readLimits, type CgroupLimits, type Controller, type Placement } from '../cgroups.ts'
import type { RunResult } from '../runner.ts'
import { allProcs, descendants, procStat, sleep } from '../proc.ts'
import { PAUSE } from '../probe.ts'
import { timeoutScale } from '../../lib/timeouts.ts'

const MiB = 1024 * 1024
const CLK_TCK = 100

function describeCgroup(l: CgroupLimits | undefined): string {
  if (!l) return 'no cgroup found for the process'
  return `cgroup ${l.memoryDir}${l.cpuDir !== l.memoryDir ? `, ${l.cpuDir}` : ''}`
}

/** Making the cgroup's folders is createCgroup()'s; putting the process into them is joinCgroup()'s. */
const CREATE_HINT = '03.1'
const JOIN_HINT = '03.3'

/** What the host sees of the container's cgroups while it runs: the limits, and where the process is per controller. */
interface CgroupView {
  limits: CgroupLimits | undefined
  places: Placement[] | undefined
}

function cgroupView(pid: number | undefined, rootPid: number): CgroupView {
  if (pid === undefined) return { limits: undefined, places: undefined }
  return { limits: readLimits(pid), places: placement(pid, [rootPid, ...descendants(rootPid).map((p) => p.pid)]) }
}

/**
 * The container must be in a cgroup of its own for the controllers a check judges (not the checker's, not a root
 * one). When it is not, the evidence names the TODO: no folder made at all (create), or folders made that the
 * process was never put into (join), e.g. on v1 in the memory cgroup but in the root of cpu and pids.
 */
function requireOwnCgroup(r: RunResult, view: CgroupView, controllers: Controller[]): CgroupLimits {
  const { limits, places } = view
  if (!limits || !places) fail("the container's process to be in a cgroup of its own (e.g. .../minicontainer/mc-<id>)", 'could not read /proc/<pid>/cgroup', r, JOIN_HINT)
  const outside = places.filter((p) => controllers.includes(p.controller) && !p.own)
  if (outside.length === 0) return limits
  const names = outside.map((p) => p.controller).join(' and ')
  const unmade = outside.filter((p) => p.made.length === 0)
  const expected = `the container's process in a cgroup of its own for ${names} (e.g. .../minicontainer/mc-<id>)`
  const where = `/proc/<pid>/cgroup says ${describePlacement(places)}`
  if (places.every((p) => p.made.length === 0)) fail(expected, `${where}; the engine made no cgroup folder (mc-<engine pid>-...) in any tree`, r, CREATE_HINT)
  if (unmade.length) fail(expected, `${where}; no folder was made in the ${unmade.map((p) => p.controller).join(' and ')} tree`, r, CREATE_HINT)
  const made = [...new Set(outside.flatMap((p) => p.made))]
  fail(expected, `${where}; the engine made ${made.join(', ')}, but the process was never put into ${made.length > 1 ? 'them' : 'it'}`, r, JOIN_HINT)
}

export const checks: Check[] = [
  {
    id: '03.oom',
    title: 'a 200 MB allocation is OOM-killed under the default 100 MB limit (the kernel\'s oom_kill counter)',
    why: 'a memory limit protects the host from one container eating all memory; only the kernel\'s counter proves the limit (and not something else) killed it.',
    hint: '03.2',
    async run(ctx) {
      let view: CgroupView = { limits: undefined, places: undefined }
      const r = await ctx.run({
        script: `dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; echo "@mc dd=$?"; ${PAUSE}`,
        onReady: ({ pid, rootPid }) => void (view = cgroupView(pid, rootPid)),
      })
      requireLive(r)
      const l = requireOwnCgroup(r, view, ['memory'])
      const dd = requireFact(r, 'dd')
      if (l.memoryLimit === undefined || l.memoryLimit < 95 * 1000 * 1000 || l.memoryLimit > 100 * MiB) fail('a memory limit of 100M in the container\'s cgroup', `${l.memoryLimit === undefined ? 'no limit' : `${l.memoryLimit} bytes`} (${describeCgroup(l)})`, r)
      ctx.note(`limit ${l.memoryLimit} bytes, dd exited ${dd}, oom_kill ${l.oomKills}`)
      if (dd !== '137') fail('dd with a 200 MB buffer killed by SIGKILL (status 137)', `status ${dd}`, r)
      if (!l.oomKills) fail(`oom_kill >= 1 in ${l.version === 2 ? 'memory.events' : 'memory.oom_control'} of the container's cgroup`, `oom_kill ${l.oomKills ?? 'missing'}`, r)
    },
  },
  {
    id: '03.oom-exit',
    title: 'an OOM-killed command makes the engine exit 137 and say so',
    why: 'exit 137 alone could be any SIGKILL: the learner (and scripts) need the engine to tell an OOM kill apart.',
    hint: '03.4',
    async run(ctx) {
      // The shell exits with dd's status after the checker has read the kernel's counter from the host.
      let view: CgroupView = { limits: undefined, places: undefined }
      const r = await ctx.run({
        script: `dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; s=$?; ${PAUSE}; exit $s`,
        onReady: ({ pid, rootPid }) => void (view = cgroupView(pid, rootPid)),
      })
      requireLive(r)
      const l = requireOwnCgroup(r, view, ['memory'])
      if (!l.oomKills) fail(`an OOM kill (oom_kill >= 1 in ${l.version === 2 ? 'memory.events' : 'memory.oom_control'}) to report`, `oom_kill ${l.oomKills ?? 'missing'}: no OOM kill happened`, r)
      if (r.exitCode !== 137) fail('exit status 137 (128 + SIGKILL)', r.timedOut ? 'a timeout' : `exit status ${r.exitCode}`, r)
      if (!/^minicontainer: the kernel's OOM killer/m.test(r.stderr)) fail('a line "minicontainer: the kernel\'s OOM killer ..." on stderr', 'no such line', r)
    },
  },
  {
    id: '03.fits',
    title: 'a 50 MB allocation runs fine under the 100 MB limit',
    why: 'a limit that kills everything is as useless as none.',
    hint: '03.2',
    async run(ctx) {
      const r = await ctx.run({ command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=50M', 'count=1'] })
      if (r.exitCode !== 0) fail('exit status 0', r.timedOut ? 'a timeout' : `exit status ${r.exitCode}`, r)
    },
  },
  {
    id: '03.no-swap',
    title: 'the requested memory limit (random) is set, and swap cannot get around it',
    why: 'with swap allowed, a container over its limit is swapped out instead of killed: the host thrashes for minutes.',
    hint: '03.2',
    async run(ctx) {
      const mib = randomInt(60, 90)
      let view: CgroupView = { limits: undefined, places: undefined }
      const r = await ctx.run({ flags: ['--memory', `${mib}M`], script: PAUSE, onReady: ({ pid, rootPid }) => void (view = cgroupView(pid, rootPid)) })
      requireLive(r)
      const l = requireOwnCgroup(r, view, ['memory'])
      if (l.memoryLimit !== mib * MiB) fail(`memory limit ${mib * MiB} bytes (--memory ${mib}M)`, `${l.memoryLimit ?? 'no limit'} (${describeCgroup(l)})`, r)
      if (l.swapSetting === undefined) return // the kernel has no swap accounting: nothing to set
      const ok = l.version === 2 ? l.swapSetting === '0' : Number(l.swapSetting) === mib * MiB
      if (!ok) fail(l.version === 2 ? 'memory.swap.max = 0' : `memory.memsw.limit_in_bytes = ${mib * MiB} (the memory limit: no swap on top)`, l.swapSetting, r)
    },
  },
  {
    id: '03.cpu',
    title: 'the CPU limit holds: a busy loop gets the requested share of a CPU (random)',
    why: 'without a CPU limit one container\'s busy loop slows every other program on the machine.',
    hint: '03.2',
    async run(ctx) {
      // Never the default (0.5): an engine that ignores --cpus and writes a fixed quota must not pass by luck.
      const cpus = [0.3, 0.4, 0.6, 0.7][randomInt(0, 3)]!
      let view: CgroupView = { limits: undefined, places: undefined }
      let used = -1
      const [p, r] = await Promise.all([ctx.shared(), ctx.run({
        flags: ['--cpus', String(cpus)],
        script: `while :; do :; done & echo "@mc loop=$!"; ${PAUSE}`,
        onReady: async ({ pid, rootPid }) => {
          if (pid === undefined) return
          view = cgroupView(pid, rootPid)
          // CPU time of every process in the container, over a wall interval: a kernel fact from /proc/<pid>/stat.
          const ticks = (): number => [pid, ...descendants(pid, allProcs()).map((p) => p.pid)].reduce((sum, p) => sum + (procStat(p)?.cpuTicks ?? 0), 0)
          await sleep(150) // let the loop start and the quota's first period pass
          // A second, longer look only when the loop seemed not to run: a busy shared machine may starve it.
          for (const ms of [1000, 2000]) {
            const t0 = ticks()
            const w0 = performance.now()
            await sleep(ms)
            used = (ticks() - t0) / CLK_TCK / ((performance.now() - w0) / 1000)
            if (used >= 0.02) break
          }
          view = { ...view, limits: readLimits(pid) ?? view.limits }
        },
      })])
      requireLive(r)
      const l = requireOwnCgroup(r, view, ['cpu'])
      ctx.note(`a busy loop got ${used.toFixed(2)} CPU under --cpus ${cpus} (cgroup limit: ${l.cpus ?? 'none'}; throttled ${l.nrThrottled ?? '?'} times)`)
      if (l.cpus === undefined || Math.abs(l.cpus - cpus) > 0.001) fail(`a CPU limit of ${cpus} CPU in the container's cgroup`, `${l.cpus === undefined ? 'no limit' : `${l.cpus} CPU`} (${describeCgroup(l)})`, r)
      // Only an upper bound: on a loaded machine the loop may get less than its share, never (much) more.
      const bound = cpus * 1.25 + 0.05
      if (used > bound) fail(`a busy loop to use at most about ${cpus} CPU (<= ${bound.toFixed(2)})`, `${used.toFixed(2)} CPU`, r)
      if (used < 0.02) fail(`a busy loop to get CPU time (up to ${cpus} CPU)`, `${used.toFixed(2)} CPU: the loop did not run`, r)
      // And without --cpus, the default half a CPU (the shared probe ran without the flag).
      const h = requireHost(p)
      if (h.limits && h.placement?.find((x) => x.controller === 'cpu')?.own && h.limits.cpus !== 0.5) fail('the default CPU limit of 0.5 CPU when no --cpus is given', `${h.limits.cpus ?? 'no limit'} (${describeCgroup(h.limits)})`, p.run)
    },
  },
  {
    id: '03.pids',
    title: 'the pids limit (random) stops a fork bomb',
    why: 'a fork bomb in a container without a pids limit exhausts the host\'s process table: nothing can start any more, not even a shell to fix it.',
    hint: '03.2',
    async run(ctx) {
      const max = randomInt(16, 28)
      let view: CgroupView = { limits: undefined, places: undefined }
      let count = 0
      const r = await ctx.run({
        flags: ['--pids', String(max)],
        // A bounded fork bomb: a shell starts 40 sleeping children; past the limit fork fails (EAGAIN) and that
        // shell gives up (its status is 2), while the probe itself goes on.
        script: `sh -c 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done' 2>/dev/null; echo "@mc bomb=$?"; ${PAUSE}`,
        onReady: ({ pid, rootPid }) => {
          if (pid === undefined) return
          view = cgroupView(pid, rootPid)
          count = 1 + descendants(pid, allProcs()).filter((p) => p.state !== 'Z').length
        },
      })
      requireLive(r)
      const l = requireOwnCgroup(r, view, ['pids'])
      ctx.note(`${count} processes in the container under --pids ${max} (pids.max ${l.pidsMax ?? 'max'})`)
      if (l.pidsMax !== max) fail(`pids.max = ${max} (--pids ${max}) in the container's cgroup`, `${l.pidsMax ?? 'max (no limit)'} (${l.pidsDir})`, r)
      if (count > max) fail(`at most ${max} processes in the container`, `${count}`, r)
    },
  },
  {
    id: '03.cleanup',
    title: "the container's cgroup is gone after it exits",
    why: 'every run that leaves its cgroup behind leaks a kernel object; thousands of them slow the whole cgroup tree.',
    hint: '03.5',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      requireOwnCgroup(p.run, { limits: h.limits, places: h.placement }, CONTROLLERS)
      if (p.run.leftoverCgroups.length) fail('no cgroup of the container left after it exited', `${p.run.leftoverCgroups.join(', ')} (removed by the checker)`, p.run)
    },
  },
  {
    id: '03.no-false-oom',
    title: "no OOM report after a run the OOM killer did not touch (the kernel's counter did not move)",
    why: 'a false alarm is worse than none: a learner (or a script) told that the OOM killer stopped a command goes looking for a memory problem that is not there.',
    hint: '03.4',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const line = p.run.stderr.split('\n').find((l) => OOM_LINE.test(l))
      // The probe allocates next to nothing, and the counter is read while it is paused, just before it exits.
      if (line && !h.limits?.oomKills) fail(`no "minicontainer: the kernel's OOM killer ..." line: oom_kill is ${h.limits?.oomKills ?? 'missing'} in the container's cgroup`, `"${line.slice(0, 120)}"`, p.run)
    },
  },
  {
    id: '03.own-cgroup',
    title: 'two containers at once each get a cgroup of their own, and one ending leaves the other alone',
    why: "a cgroup shared by two containers shares their limits (the last one written wins), and the first to exit kills what is in it: the other container.",
    hint: '03.1',
    async run(ctx) {
      // A and B run at the same time with different memory limits; A ends first while B is still paused.
      const [mibA, mibB] = [randomInt(60, 74), randomInt(76, 90)]
      let viewA: CgroupView = { limits: undefined, places: undefined }
      let viewB: CgroupView = { limits: undefined, places: undefined }
      let bAfterA: { alive: boolean; limit: number | undefined } | undefined
      let aDone!: () => void
      const aFinished = new Promise<void>((resolve) => (aDone = resolve))
      let bStarted: Promise<RunResult> | undefined
      const a = await ctx.run({
        flags: ['--memory', `${mibA}M`],
        script: PAUSE,
        onReady: async ({ pid, rootPid }) => {
          viewA = cgroupView(pid, rootPid) // before B exists: a broken B may kill A
          let bReady!: () => void
          const ready = new Promise<void>((resolve) => (bReady = resolve))
          bStarted = ctx.run({
            flags: ['--memory', `${mibB}M`],
            script: PAUSE,
            onReady: async ({ pid: b, rootPid: bRoot }) => {
              viewB = cgroupView(b, bRoot)
              bReady()
              await Promise.race([aFinished, sleep(10_000 * timeoutScale())])
              if (b !== undefined) bAfterA = { alive: ['Z', undefined].every((s) => procStat(b)?.state !== s), limit: readLimits(b)?.memoryLimit }
            },
          })
          // B may fail before it gets ready: then A's own run ends, and B's result tells why.
          await Promise.race([ready, bStarted, sleep(10_000 * timeoutScale())])
        },
      })
      aDone()
      const b = await (bStarted ?? fail('a second container to start while the first runs', 'the first never got that far', a))
      requireLive(a)
      // The second engine may fail in the first one's cgroup (v1: a memory limit above the other's memsw): the
      // evidence is the first container's cgroup in the second one's error.
      const inA = viewA.places?.map((x) => x.dir).find((dir) => dir && !b.sawReady && b.stderr.includes(dir))
      if (inA) fail('a different cgroup for each container', `the second container's engine failed in the first one's cgroup ${inA}: "${b.stderr.split('\n').find((l) => l.includes(inA))?.slice(0, 160)}" (is the cgroup's name fixed?)`, a)
      requireLive(b)
      const la = requireOwnCgroup(a, viewA, CONTROLLERS)
      const lb = requireOwnCgroup(b, viewB, CONTROLLERS)
      const shared = CONTROLLERS.filter((c) => viewA.places?.find((x) => x.controller === c)?.dir === viewB.places?.find((x) => x.controller === c)?.dir)
      if (shared.length) fail('a different cgroup for each container', `both in ${viewA.places?.find((x) => x.controller === shared[0])?.dir} (${shared.join(', ')}): is the cgroup's name fixed?`, b)
      if (la.memoryLimit !== mibA * MiB || lb.memoryLimit !== mibB * MiB) fail(`memory limits ${mibA}M and ${mibB}M, each in its own cgroup`, `${la.memoryLimit} and ${lb.memoryLimit} bytes`, b, '03.2')
      if (bAfterA && !bAfterA.alive) fail('the second container to keep running when the first one exits', `it was killed when the first one's engine cleaned up (${howItEnded(b)})`, b)
      if (bAfterA && bAfterA.limit !== mibB * MiB) fail(`the second container's memory limit (${mibB}M) to stay when the first one exits`, `${bAfterA.limit ?? 'no limit'}`, b)
    },
  },
]

/** The engine's OOM report (CONTRIBUTING.md: the engine's command line). */
const OOM_LINE = /^minicontainer: the kernel's OOM killer/
