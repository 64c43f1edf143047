// Hints and experiments of step 03 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here. Levels 1-2 never show a solution line (test/leaks.test.ts).
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '03-cgroups',
  todos: [
    {
      id: '03.1',
      concept: 'a cgroup of the container\'s own',
      nudge: 'A cgroup is a folder in the cgroup filesystem. How many folders does one container need on cgroup v2 (one tree), and on v1 (one tree per controller)? The first container also needs minicontainer/, the folder above its own.',
      api: 'Making a folder under /sys/fs/cgroup makes a cgroup; the kernel fills it with its files (`man 7 cgroups`, "Creating cgroups and moving processes"). `cgroupDirs(cgroup)` lists this container\'s folders. Node\'s `fs.mkdirSync(path, options)` makes one; its `recursive` option makes missing parents too.',
    },
    {
      id: '03.2',
      concept: 'the cgroup\'s limits (memory without swap, CPU, pids)',
      nudge: 'Each limit is a value written into one file of the cgroup. Which files limit memory, swap, CPU time and the number of tasks, on v2 and on v1? What must memory + swap be for "no swap"? What if the file for swap does not exist (a kernel without swap accounting)? On v1, can the memory+swap limit ever be below the memory limit?',
      api: '`writeCgroupFile(dir, file, value)` (lib/cgroupfs.ts) writes one file and explains a refusal. The folders: `cgroup.memory`, `cgroup.cpu`, `cgroup.pids`; `cgroup.version` is 1 or 2. v2 files: `memory.max` (bytes), `memory.swap.max` (swap on top of memory: bytes), `cpu.max` ("QUOTA PERIOD", both in µs, one line), `pids.max`. v1 files: `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` (memory + swap together, never below the memory limit: EINVAL), `cpu.cfs_period_us` and `cpu.cfs_quota_us` (one number each), `pids.max`. `fs.existsSync` tells whether a file is there. Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/memory.rst.',
    },
    {
      id: '03.3',
      concept: 'init in the container\'s cgroup before it starts',
      nudge: 'A process is in the cgroup whose member list holds its PID; the children it forks are born there. Which file is that list, and in how many folders must the PID go on v1? Why does it matter that init has not yet received its configuration at this point?',
      api: 'Writing a PID into a cgroup\'s `cgroup.procs` moves that whole process (every thread) into the cgroup (`man 7 cgroups`; v1\'s `tasks` file moves one thread). `writeCgroupFile` writes it; `cgroupDirs(cgroup)` gives every folder of the cgroup.',
    },
    {
      id: '03.4',
      concept: 'the kernel\'s OOM-kill counter (container.ts prints the OOM line from it)',
      nudge: 'Exit status 137 says SIGKILL, not who sent it. Which file of the memory cgroup counts the kills of the OOM killer, on v2 and on v1? It holds several counters, one per line: how do you pick the one you want out of the text?',
      api: 'v2: `memory.events`, lines `low N`, `high N`, `max N`, `oom N`, `oom_kill N`; v1: `memory.oom_control`, lines `oom_kill_disable 0`, `under_oom 0`, `oom_kill N` (kernel 4.13+). Both in `cgroup.memory`. `fs.readFileSync(file, \'utf8\')` reads it; a regular expression with the `m` flag lets `^` and `$` match at each line; `Number()` turns the digits into a number. Count 0 when the line is missing.',
    },
    {
      id: '03.5',
      concept: 'the cgroup removed when the container ends',
      nudge: 'The kernel refuses to remove a cgroup that still has processes (or child cgroups). What must happen first, and in how many folders? Can a process that was just killed still be counted for a moment?',
      api: 'lib/cgroupfs.ts has two helpers that each take one cgroup folder: `killCgroupProcesses` (SIGKILL to every member: one write to `cgroup.kill` on v2 5.14+, each PID of `cgroup.procs` on v1) and `removeCgroupDir` (rmdir(2), retried while EBUSY). A cgroup is removed with rmdir, never `rm -r`: its files cannot be deleted. `cgroupDirs(cgroup)` lists the folders.',
    },
  ],
  experiments: [
    {
      id: '03.x1',
      title: 'A buffer that fits, a buffer that does not',
      try: '`sudo sh bin/node solutions/03-cgroups/main.ts run --memory 50M -- dd if=/dev/zero of=/dev/null bs=40M count=1; echo $?`, then the same with `bs=60M`, and `bs=1M count=200`.',
      predict: 'Which of the three runs is killed? Why would copying 200 MiB in 1 MiB pieces not exceed a 50 MiB limit?',
      answer: '`bs=40M` fits (dd\'s 40 MiB buffer plus dd itself stay under 50 MiB) and exits 0; `bs=60M` needs a 60 MiB buffer at once: the OOM killer kills dd, exit 137, and the engine\'s line says so. The limit counts memory in use, not bytes that flowed: `bs=1M count=200` reuses one 1 MiB buffer 200 times and exits 0. That is why the classic `dd bs=1M count=200` demo shows nothing. (And `--memory 20M` is refused: until execve the container is a Node process of about 20 MB.)',
    },
    {
      id: '03.x2',
      title: 'Watch the CPU quota throttle',
      try: '`sudo sh bin/node solutions/03-cgroups/main.ts run --cpus 0.2 -- /bin/sh -c \'while :; do :; done\'` in one terminal. In another: `P=$(pgrep -f \'^/bin/sh -c while\')` (the container\'s shell: the engine and sudo have the same words in their command lines), `cat /proc/$P/cgroup`, then read `cpu.stat` twice, a few seconds apart: v2 `/sys/fs/cgroup/minicontainer/mc-*/cpu.stat`, v1 `/sys/fs/cgroup/cpu/minicontainer/mc-*/cpu.stat`. `top -p $P` shows its share. Ctrl-C stops it.',
      predict: 'What share of a CPU does the loop get? Which counters of cpu.stat grow, and by how much per second?',
      answer: 'About 20 % of one CPU: in each 100 ms period the loop may run 20 ms, then it waits for the next period. `nr_periods` grows by 10 a second (one per period in which it wanted to run), `nr_throttled` by about as much (the quota ran out in each), and the time spent waiting by most of the elapsed time: `throttled_usec` on v2, `throttled_time` in nanoseconds on v1. Never killed: a CPU limit only slows.',
    },
    {
      id: '03.x3',
      title: 'A fork bomb under --pids',
      try: '`sudo sh bin/node solutions/03-cgroups/main.ts run --pids 20 -- /bin/sh -c \'(for i in $(seq 50); do sleep 60 & done); sleep 30\'`; meanwhile on the host read `pids.current`, `pids.max` and `pids.events` in the container\'s cgroup (v2 `/sys/fs/cgroup/minicontainer/mc-*/`, v1 `/sys/fs/cgroup/pids/minicontainer/mc-*/`; on a systemd host `systemd-cgls /minicontainer` shows the tree).',
      predict: 'How many sleeps start? What does the shell print when the limit is reached, and what do the three files say?',
      answer: 'About 18: pids.max counts every task of the cgroup (processes and threads), the two shells included. Past the limit fork() fails with EAGAIN (busybox: "can\'t fork: Resource temporarily unavailable"), the subshell gives up, and `pids.events` counts `max N`, the forks refused. `pids.current` stays at or under 20: the main shell could not even start `ps` now. Without the limit, a real fork bomb would fill the host\'s process table.',
    },
    {
      id: '03.x4',
      title: 'Leave the cgroup',
      try: 'The cgroup filesystem is not mounted inside the container, but the command is root with every capability. Try: `sudo sh bin/node solutions/03-cgroups/main.ts run /bin/sh -c \'if grep -q :memory: /proc/self/cgroup; then mount -t cgroup -o memory none /mnt; else mount -t cgroup2 none /mnt; fi; cat /proc/self/cgroup; echo $$ > /mnt/cgroup.procs; cat /proc/self/cgroup; dd if=/dev/zero of=/dev/null bs=200M count=1; echo dd=$?; umount /mnt\'`',
      predict: 'Is the container stuck in its cgroup because nothing is mounted on its /sys? Does a 200 MiB buffer get past the 100 MiB limit?',
      answer: 'No: it mounts the cgroup filesystem itself (cgroup2 on a v2 host, the memory hierarchy on v1), writes its PID into the ROOT cgroup\'s `cgroup.procs` (there is no cgroup namespace, so the root it sees is the host\'s), and `/proc/self/cgroup` says `/`: `dd=0`, the limit is gone. What keeps a real container in its cgroup is what this engine does not do yet: dropping CAP_SYS_ADMIN (no mount), a cgroup namespace, a read-only /sys/fs/cgroup. Step 07 closes this hole.',
    },
    {
      id: '03.x5',
      title: 'The "no internal processes" rule (cgroup v2)',
      try: 'In the VM (cgroup v2), as root in a shell: `cd /sys/fs/cgroup; mkdir demo; echo $$ > demo/cgroup.procs; mkdir demo/child` (works?), `echo +memory > demo/cgroup.subtree_control` (works?), `echo $$ > demo/child/cgroup.procs; echo +memory > demo/cgroup.subtree_control` (now?), `echo $$ > demo/cgroup.procs` (and back?), `rmdir demo` (?). Clean up: `echo $$ > cgroup.procs; echo -memory > demo/cgroup.subtree_control; rmdir demo/child demo`.',
      predict: 'Can a cgroup with a member process have child cgroups? Enable the memory controller for them? Can a process join a cgroup whose children have controllers? Can `rmdir` remove a cgroup that has a child?',
      answer: 'A child folder is fine while demo has members. What v2 forbids is a non-root cgroup with BOTH member processes and a domain controller (memory, io...) enabled for its children in `cgroup.subtree_control`: the memory controller would have to share out memory between the cgroup\'s own processes and its children. Writing `+memory` fails with EBUSY while the shell is in demo, works once it moved to demo/child, and then moving the shell back into demo fails with EBUSY. `rmdir demo` fails with EBUSY too: a cgroup with child cgroups (or members) cannot be removed, on v2 and on v1. That is why each container gets a leaf `mc-...` folder and nothing is ever put into `minicontainer/` itself. (Threaded controllers, pids and cpu among them, follow other rules: try `+pids` instead and the first write works, the move to demo/child fails with EOPNOTSUPP: see "Threads" in cgroup-v2.rst. On v1 there is no such rule.)',
    },
  ],
}
