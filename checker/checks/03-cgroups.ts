// Step 03: a cgroup per container, with memory (no swap), CPU and pids limits that the kernel enforces.
// Judged by the kernel's own files, read from the host while the container runs: the cgroup the container's
// process is in (/proc/<pid>/cgroup), its limits, its oom_kill counter, the CPU time the process got.
import { fail, randomInt, requireFact, requireHost, requireLive, type Check } from '../check.ts'
import { readLimits, type CgroupLimits } from '../cgroups.ts'
import { allProcs, descendants, procStat, sleep } from '../proc.ts'
import { PAUSE } from '../probe.ts'

const MiB = 1024 * 1024
const CLK_TCK = 100

function describeCgroup(l: CgroupLimits | undefined): string {
  if (!l) return 'no cgroup found for the process'
  return `cgroup ${l.memoryDir}${l.cpuDir !== l.memoryDir ? `, ${l.cpuDir}` : ''}`
}

/** In a cgroup of its own or not is decided by joinCgroup(), whatever the limits say. */
const JOIN_HINT = '03.3'

/** The container must be in a cgroup of its own (not the checker's, not a root one). */
function requireOwnCgroup(r: Parameters<typeof requireLive>[0], limits: CgroupLimits | undefined): CgroupLimits {
  if (!limits || r.cgroupDirs.length === 0) fail("the container's process to be in a cgroup of its own (e.g. .../minicontainer/mc-<id>)", limits ? `it is in the checker's own cgroup: ${describeCgroup(limits)}` : 'could not read /proc/<pid>/cgroup', r, JOIN_HINT)
  return limits
}

export const checks: Check[] = [
  {
    id: '03.oom',
    title: 'a 200 MB allocation is OOM-killed under the default 100 MB limit (the kernel\'s oom_kill counter)',
    why: 'a memory limit protects the host from one container eating all memory; only the kernel\'s counter proves the limit (and not something else) killed it.',
    hint: '03.2',
    async run(ctx) {
      let limits: CgroupLimits | undefined
      const r = await ctx.run({
        script: `dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; echo "@mc dd=$?"; ${PAUSE}`,
        onReady: ({ pid }) => void (pid !== undefined && (limits = readLimits(pid))),
      })
      requireLive(r)
      const l = requireOwnCgroup(r, limits)
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
      let limits: CgroupLimits | undefined
      const r = await ctx.run({
        script: `dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; s=$?; ${PAUSE}; exit $s`,
        onReady: ({ pid }) => void (pid !== undefined && (limits = readLimits(pid))),
      })
      requireLive(r)
      const l = requireOwnCgroup(r, limits)
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
      let limits: CgroupLimits | undefined
      const r = await ctx.run({ flags: ['--memory', `${mib}M`], script: PAUSE, onReady: ({ pid }) => void (pid !== undefined && (limits = readLimits(pid))) })
      requireLive(r)
      const l = requireOwnCgroup(r, limits)
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
      const cpus = [0.3, 0.4, 0.5, 0.6][randomInt(0, 3)]!
      let limits: CgroupLimits | undefined
      let used = -1
      const r = await ctx.run({
        flags: ['--cpus', String(cpus)],
        script: `while :; do :; done & echo "@mc loop=$!"; ${PAUSE}`,
        onReady: async ({ pid }) => {
          if (pid === undefined) return
          limits = readLimits(pid)
          // CPU time of every process in the container, over a wall interval: a kernel fact from /proc/<pid>/stat.
          const ticks = (): number => [pid, ...descendants(pid, allProcs()).map((p) => p.pid)].reduce((sum, p) => sum + (procStat(p)?.cpuTicks ?? 0), 0)
          await sleep(150) // let the loop start and the quota's first period pass
          const t0 = ticks()
          const w0 = performance.now()
          await sleep(1000)
          used = (ticks() - t0) / CLK_TCK / ((performance.now() - w0) / 1000)
          limits = readLimits(pid) ?? limits
        },
      })
      requireLive(r)
      const l = requireOwnCgroup(r, limits)
      ctx.note(`a busy loop got ${used.toFixed(2)} CPU under --cpus ${cpus} (cgroup limit: ${l.cpus ?? 'none'}; throttled ${l.nrThrottled ?? '?'} times)`)
      if (l.cpus === undefined || Math.abs(l.cpus - cpus) > 0.001) fail(`a CPU limit of ${cpus} CPU in the container's cgroup`, `${l.cpus === undefined ? 'no limit' : `${l.cpus} CPU`} (${describeCgroup(l)})`, r)
      // Only an upper bound: on a loaded machine the loop may get less than its share, never (much) more.
      const bound = cpus * 1.25 + 0.05
      if (used > bound) fail(`a busy loop to use at most about ${cpus} CPU (<= ${bound.toFixed(2)})`, `${used.toFixed(2)} CPU`, r)
      if (used < 0.02) fail(`a busy loop to get CPU time (up to ${cpus} CPU)`, `${used.toFixed(2)} CPU: the loop did not run`, r)
    },
  },
  {
    id: '03.pids',
    title: 'the pids limit (random) stops a fork bomb',
    why: 'a fork bomb in a container without a pids limit exhausts the host\'s process table: nothing can start any more, not even a shell to fix it.',
    hint: '03.2',
    async run(ctx) {
      const max = randomInt(16, 28)
      let limits: CgroupLimits | undefined
      let count = 0
      const r = await ctx.run({
        flags: ['--pids', String(max)],
        // A bounded fork bomb: a shell starts 40 sleeping children; past the limit fork fails (EAGAIN) and that
        // shell gives up (its status is 2), while the probe itself goes on.
        script: `sh -c 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done' 2>/dev/null; echo "@mc bomb=$?"; ${PAUSE}`,
        onReady: ({ pid }) => {
          if (pid === undefined) return
          limits = readLimits(pid)
          count = 1 + descendants(pid, allProcs()).filter((p) => p.state !== 'Z').length
        },
      })
      requireLive(r)
      const l = requireOwnCgroup(r, limits)
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
      requireHost(p)
      if (p.run.cgroupDirs.length === 0) fail("the container's process to be in a cgroup of its own while it runs", "it is in the checker's own cgroup", p.run, JOIN_HINT)
      if (p.run.leftoverCgroups.length) fail('no cgroup of the container left after it exited', `${p.run.leftoverCgroups.join(', ')} (removed by the checker)`, p.run)
    },
  },
]
