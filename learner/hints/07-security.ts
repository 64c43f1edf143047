// Hints and experiments of step 07 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '07-security',
  todos: [
    {
      id: '07.1',
      concept: 'a cgroup namespace of the container\'s own',
      nudge: 'Which cgroup becomes "/" for a new cgroup namespace, and is init already in the container\'s cgroup when this runs?',
      api: '`unshare(2)` with the cgroup namespace\'s flag (`man 7 cgroup_namespaces`; lib/libc.ts exports it). Check it from the host: `readlink /proc/PID/ns/cgroup` next to `readlink /proc/self/ns/cgroup`.',
    },
    {
      id: '07.2',
      concept: 'the kernel\'s files: /sys read-only, /proc masked and read-only, /dev nodev',
      nudge: 'Which files in /proc and /sys act on the whole machine rather than on the container? For each: should the container not see it at all, or see it and never write it? And what must a device node in /dev be unable to do?',
      api: '`mount(2)` (lib/libc.ts): a sysfs with `MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC`; a mask is a bind mount (`MS_BIND`) of the container\'s `/dev/null` over a file, or an empty tmpfs mounted read-only over a folder; a read-only path is a bind mount of the path onto itself followed by a remount of that bind with `MS_REMOUNT | MS_BIND | MS_RDONLY`. `fs.existsSync` and `fs.statSync(p).isDirectory()` tell which case. For /dev, a remount too: every per-mount flag is set anew, so give the ones it keeps plus `MS_NODEV`. With `MS_REMOUNT | MS_BIND` (the read-only paths\' pattern) only those per-mount flags change and no data is needed; a remount without `MS_BIND` reconfigures the tmpfs itself as well, and then takes its options (step 2\'s) as data.',
    },
    {
      id: '07.3',
      concept: 'the container\'s cgroups, read-only, at /sys/fs/cgroup',
      nudge: 'On cgroup v2 there is one hierarchy; on v1 one per controller, and /sys/fs/cgroup itself is only a folder holding them. What has to exist, and be writable, before each mount can be made?',
      api: '`layout.hierarchies` (lib/cgroup-layout.ts): each has `dir` (`\'\'` means v2, straight on /sys/fs/cgroup), `fsType` (the filesystem type, `cgroup` or `cgroup2`, which is also a fine source name) and `options` (what a v1 mount takes as its data: which controllers); `layout.links` are the symbolic links v1 hosts have next to the folders. `mount(2)` for each, with the read-only flags of 07.2; `fs.mkdirSync` for a mount point, `fs.symlinkSync` for a link; a tmpfs (with `MS_REMOUNT` to change its flags later) to hold the folders on v1. Which comes first is the question of level 1. `man 7 cgroups`, "Mounting v1 controllers".',
    },
    {
      id: '07.4',
      concept: 'the kept capabilities in every set, and no_new_privs',
      nudge: 'Root gets its bounding and inheritable sets back at every execve: which sets must you shrink so that nothing comes back, and which call needs a capability you are about to give up?',
      api: 'lib/capabilities.ts: `dropFromBoundingSet(n)` takes out one capability number at a time (prctl PR_CAPBSET_DROP: needs CAP_SETPCAP in effective), `lastCapability()` is the highest number this kernel knows, and `keep` is a bit mask (bit n = capability n, a bigint: test a bit with `&` and a shifted `1n`). `setCapabilities({ effective, permitted, inheritable })` sets three sets from masks at once, `clearAmbientCapabilities` empties the ambient set, `setNoNewPrivileges` sets no_new_privs. `man 7 capabilities`, "Transformation of capabilities during execve()".',
    },
    {
      id: '07.5',
      concept: 'the seccomp deny-list',
      nudge: 'Which calls let a process change its own rules: mount something, make or join a namespace, load code into the kernel, reach another process? And for which of them can a filter not see the flags that matter?',
      api: 'A `DenyRule` of lib/seccomp.ts: `{ syscall, errno }`, optionally `when: { argument, anyBitOf }`; `EPERM` and `ENOSYS` are exported there, `NAMESPACE_FLAGS` in security.ts. Names: lib/syscalls.ts lists every one it knows (an unknown name is an error). `man 2 seccomp`; docker\'s profile for comparison: profiles/seccomp/default.json in moby (an allow-list).',
    },
  ],
  experiments: [
    {
      id: '07.x1',
      title: 'Leave your cgroup',
      try: 'With step 6\'s engine, then with yours: `sudo sh bin/node solutions/06-overlayfs/main.js run /bin/sh -c \'mount -t cgroup -o memory none /mnt || mount -t cgroup2 none /mnt; echo $$ > /mnt/cgroup.procs; cat /proc/self/cgroup; dd if=/dev/zero of=/dev/null bs=200M count=1; echo dd=$?\'` (then `steps/07-security/main.js`). While the first one runs, `cat /proc/PID/cgroup` on the host.',
      predict: 'Does dd get its 200 MiB under the 100 MiB limit, in each engine? What does the host say about the process\'s cgroup?',
      answer: 'Step 6: the mount works (root with CAP_SYS_ADMIN), the write moves the shell into the root cgroup (`4:memory:/` on v1, `0::/` on v2), and dd gets its 200 MiB: dd=0, no OOM. Step 7: `mount` is refused (the filter answers EPERM before the kernel even looks for CAP_SYS_ADMIN, which is gone too), so the echo only writes an ordinary file `/mnt/cgroup.procs` in the container\'s own layer; inside, every line of /proc/self/cgroup says `/` (the cgroup namespace), while the host\'s `cat /proc/PID/cgroup` still says `/minicontainer/mc-...`: dd is OOM-killed (dd=137) and `oom_kill` goes up. Had the mount worked, inside the cgroup namespace its root would have been the container\'s own cgroup anyway: three locks on one door.',
    },
    {
      id: '07.x2',
      title: 'Root without capabilities makes a user namespace',
      try: 'Comment out the call to `installSyscallFilter()` in your container.ts (capabilities still dropped) and run `sudo sh bin/node steps/07-security/main.js run /bin/sh -c \'grep CapEff /proc/self/status; unshare -U -r -m sh -c "mount -t tmpfs none /mnt && echo mounted; grep CapEff /proc/self/status"\'`. Put the call back afterwards and run it again.',
      predict: 'The command has 13 capabilities and no CAP_SYS_ADMIN. Can it mount a tmpfs?',
      answer: 'Without the filter: yes. `unshare -U` needs no capability; in the new user namespace the process is root of that namespace with every capability (`CapEff: 000001ffffffffff`), so it can make a mount namespace and mount a tmpfs in it. Nothing of the host is changed, but every line of kernel code behind mount and the other namespaced privileges is now reachable, which is how several kernel exploits began (CVE-2022-0185). With the filter, `unshare` fails with EPERM before the kernel looks at anything: only a filter stops what needs no capability.',
    },
    {
      id: '07.x3',
      title: 'What execve gives back to root',
      try: 'On the host: `sudo setpriv --inh-caps=+sys_admin -- setpriv --bounding-set=-sys_admin -- grep -E \'Cap(Inh|Eff|Bnd)\' /proc/self/status`, then `capsh --decode=` each value.',
      predict: 'CAP_SYS_ADMIN is gone from the bounding set before grep is started. Does grep have it?',
      answer: 'It does: `CapBnd` lacks bit 21 (0x200000) and `CapEff` has it. For root, execve computes permitted = bounding | inheritable, and the first setpriv left SYS_ADMIN in the inheritable set, which dropping from the bounding set does not touch. That is why the engine empties the inheritable set (docker did not until CVE-2022-24769), and why the checker starts your engine with SYS_ADMIN and MKNOD handed down in both the inheritable and the ambient set.',
    },
    {
      id: '07.x4',
      title: 'A device node that opens is the whole disk',
      try: 'Make a disk of your own (lesson, section 1), then add `\'MKNOD\'` to KEPT_CAPABILITIES and run `sudo sh bin/node steps/07-security/main.js run /bin/sh -c \'mknod /dev/d b 7 N; head -c 64 /dev/d; mknod /tmp/d b 7 N && strings /tmp/d | grep secret\'` (N from `losetup`). Take MKNOD out again, detach the loop device.',
      predict: 'mount is refused either way. Can the container still read the token?',
      answer: 'The node in /dev is made but does not open (`Permission denied`: /dev is nodev). The one in /tmp opens, and `strings` finds the token in the raw device: no mount needed. Docker keeps MKNOD and relies on its device cgroup to refuse the open; without one, dropping MKNOD is what closes this door, on cgroup v1 and v2 alike.',
    },
    {
      id: '07.x5',
      title: 'Read the filter the kernel runs',
      try: 'Start `sudo sh bin/node steps/07-security/main.js run sleep 60`, find the sleep\'s PID on the host (`pgrep -n -x sleep`), then `grep Seccomp /proc/PID/status` and `sudo sh bin/node --input-type=module -e "const s = await import(\'./lib/seccomp.ts\'); for (const f of s.readSeccompFilters(PID)) console.log(s.disassemble(f).join(\'\\n\'))"`.',
      predict: 'How many instructions does your list make, and where is the architecture checked?',
      answer: '`Seccomp: 2` and `Seccomp_filters: 1`. The program starts with `ld [4]` (the architecture) and `jeq #0xc000003e` (x86_64) or `#0xc00000b7` (aarch64), kills what is neither, then on x86_64 kills x32 numbers; then two instructions per denied call, five for a rule with `when`, and `ret ALLOW` last. It is read back with ptrace (PTRACE_SECCOMP_GET_FILTER), which is also how the checker judges it: by running it, for each call it cares about, as the kernel would.',
    },
  ],
}
