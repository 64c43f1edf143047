// Hints and experiments of step 03 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '03-cgroups',
  todos: [
    {
      id: '03.1',
      concept: 'a cgroup of the container\'s own',
      nudge: 'A cgroup is a folder in the cgroup filesystem. How many folders does one container need on cgroup v2 (one tree), and on v1 (one tree per controller)?',
      api: 'Creating a folder under /sys/fs/cgroup creates the cgroup; the kernel fills it with its files. `cgroupDirs(cgroup)` lists this container\'s folders; Node\'s `fs.mkdirSync` with `recursive` also makes the shared parent.',
    },
    {
      id: '03.2',
      concept: 'the cgroup\'s limits (memory without swap, CPU, pids)',
      nudge: 'Each limit is a number written into a file of the cgroup. Which files limit memory, swap, CPU time and the number of processes, and do they have the same names on v1 and v2? What must memory + swap be, for "no swap"?',
      api: 'v2: `memory.max` (bytes), `memory.swap.max` (0 = no swap; absent without swap accounting), `cpu.max` ("QUOTA PERIOD" in µs), `pids.max`. v1: `memory.limit_in_bytes`, then `memory.memsw.limit_in_bytes` (memory + swap: never below the memory limit), `cpu.cfs_period_us` and `cpu.cfs_quota_us`, `pids.max` in the pids tree. `writeCgroupFile(dir, file, value)` writes one; Documentation/admin-guide/cgroup-v2.rst.',
    },
    {
      id: '03.3',
      concept: 'init in the container\'s cgroup before it starts',
      nudge: 'A process is in the cgroup whose list holds its PID; its children are born where it is. Which list, and in how many folders on v1?',
      api: 'Write the PID into `cgroup.procs` of each of the container\'s folders (`cgroupDirs`), with `writeCgroupFile`. `man 7 cgroups`, "Creating cgroups and moving processes".',
    },
    {
      id: '03.4',
      concept: 'the kernel\'s OOM-kill counter',
      nudge: 'Exit status 137 says SIGKILL, not who sent it. Which file of the memory cgroup counts the kills of the OOM killer, on v2 and on v1?',
      api: 'v2: `memory.events`, a line `oom_kill N`; v1: `memory.oom_control`, a line `oom_kill N` (kernel 4.13+). Read the file in `cgroup.memory` with `fs.readFileSync` and find the line; a regular expression with the `m` flag matches one line of many.',
    },
    {
      id: '03.5',
      concept: 'the cgroup removed when the container ends',
      nudge: 'The kernel refuses to remove a cgroup that still has processes (or child cgroups). What must happen first, and in how many folders?',
      api: 'For each of `cgroupDirs(cgroup)`: `killCgroupProcesses(dir)` (cgroup.kill on v2, SIGKILL to each PID on v1), then `removeCgroupDir(dir)` (rmdir(2), retried while EBUSY).',
    },
  ],
  experiments: [
    {
      id: '03.x1',
      title: 'A buffer that fits, a buffer that does not',
      try: '`sudo node solutions/03-cgroups/main.ts run --memory 50M -- dd if=/dev/zero of=/dev/null bs=40M count=1`, then the same with `bs=60M`; and `bs=1M count=200` under `--memory 50M`.',
      predict: 'Which of the three runs is killed? Why does copying 200 MB in 1 MB pieces not exceed a 50 MB limit?',
      answer: '`bs=40M` fits (dd\'s buffer plus the shell and dd themselves stay under 50 MiB); `bs=60M` needs a 60 MiB buffer at once: the OOM killer kills dd, exit 137, and the engine\'s line says so. The memory limit counts pages in use, not bytes that flowed: `bs=1M count=200` reuses one 1 MiB buffer 200 times and never comes near the limit. That is why the classic "dd count=200" demo shows nothing.',
    },
    {
      id: '03.x2',
      title: 'Watch the CPU quota throttle',
      try: '`sudo node solutions/03-cgroups/main.ts run --cpus 0.2 -- /bin/sh -c \'while :; do :; done\'` in one terminal; in another, find its cgroup (`cat /proc/PID/cgroup`) and read `cpu.stat` twice, a few seconds apart (v2: /sys/fs/cgroup/minicontainer/mc-*/cpu.stat; v1: /sys/fs/cgroup/cpu/minicontainer/mc-*/cpu.stat). `top` shows the loop\'s share.',
      predict: 'What share of a CPU does the loop get, and which counters of cpu.stat grow?',
      answer: 'About 20 % of one CPU: each 100 ms period it may run 20 ms, then it waits. `nr_periods` counts periods, `nr_throttled` the periods in which the quota ran out, and `throttled_usec` (v2) / `throttled_time` (v1, ns) the time spent waiting: both grow by roughly the elapsed time.',
    },
    {
      id: '03.x3',
      title: 'A fork bomb under --pids',
      try: '`sudo node solutions/03-cgroups/main.ts run --pids 20 -- /bin/sh -c \'for i in $(seq 50); do sleep 60 & done; wait\'`; meanwhile `cat /sys/fs/cgroup/.../pids.current` and `pids.events` on the host (`systemd-cgls` shows the tree on a systemd host).',
      predict: 'How many sleeps start? What does the shell print when the limit is reached, and what does pids.events count?',
      answer: 'About 18: pids.max counts every task (threads too) in the cgroup, including the shell itself. Past the limit fork() fails with EAGAIN ("can\'t fork: Resource temporarily unavailable") and `pids.events` counts `max` events. Without the limit, a real fork bomb would fill the host\'s process table.',
    },
  ],
}
