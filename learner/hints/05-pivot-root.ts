// Hints and experiments of step 05 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '05-pivot-root',
  todos: [
    {
      id: '05.1',
      concept: 'the rootfs as a mount point of its own',
      nudge: 'pivot_root swaps MOUNTS, not folders. Is the rootfs a mount right now, or just a folder of the host\'s root filesystem? How do you make the very same files appear as a mount of their own, at the very same place?',
      api: 'A bind mount of a folder onto itself: `mount(2)` with the folder as both source and target, `MS_BIND`, and `MS_REC` so that mounts already under it come along (from step 06 on, volumes). No new propagation flag is needed: the namespace is private since step 01. `man 2 mount`, "Creating a bind mount"; `man 2 pivot_root` ("new_root must be a path to a mount point").',
    },
    {
      id: '05.2',
      concept: 'the rootfs as the root mount of the container\'s mount namespace',
      nudge: 'chroot changes where one process\'s paths start; the host\'s tree stays in the namespace, above. Which call changes the root MOUNT of the whole namespace? Where do you have to be standing, so that the two paths it takes can be one and the same?',
      api: '`pivotRoot(newRoot, putOld)` (lib/libc.ts: the raw system call, glibc has no wrapper) and `chdir(2)`. `man 2 pivot_root`, the section "pivot_root(\\".\\", \\".\\")": new_root and put_old may be the same directory, the one you are in; the old root is then stacked on top of the new one at "/". The chroot lines go.',
    },
    {
      id: '05.3',
      concept: 'the host\'s old root detached from the container\'s mount namespace',
      nudge: 'After pivot_root the host\'s whole tree is still mounted, stacked on "/". Every host process uses it: a plain unmount would fail with EBUSY. Which kind of unmount detaches it now and frees it later? And where is the current directory afterwards?',
      api: '`umount2(target, flags)` (lib/libc.ts); its flags are in `man 2 umount`: which one removes a mount that processes still use, at once? After a `pivot_root(".", ".")` the old root is stacked on the new one: which path names the topmost mount there (man 2 pivot_root, NOTES)? And where is the working directory afterwards (`man 2 chdir`)?',
    },
  ],
  experiments: [
    {
      id: '05.x1',
      title: 'Escape a chroot (step 04\'s engine)',
      try: [
        'In the VM, as root, from the repository folder (`sudo -s` first; the VM has gcc, elsewhere `apt-get install gcc`):',
        '```sh',
        'gcc -static -O2 -o /tmp/chroot-escape checker/escape/chroot-escape.c',
        'mkdir -p /tmp/tiny/bin /tmp/tiny/dev /tmp/tiny/proc /tmp/tiny/jail',
        'cp /tmp/chroot-escape /tmp/tiny/ && ln -s /chroot-escape /tmp/tiny/bin/sh',
        'echo "the host\'s secret" > /tmp/secret',
        'echo | node solutions/04-network/main.ts run --rootfs /tmp/tiny /chroot-escape /jail /tmp/secret',
        'echo | node solutions/05-pivot-root/main.ts run --rootfs /tmp/tiny /chroot-escape /jail /tmp/secret',
        '```',
      ].join('\n'),
      predict: 'The program chroots into /jail, runs `chdir("..")` 64 times, chroots into where it ended up, and opens /tmp/secret by its HOST path. What does it print against step 04\'s engine, and against step 05\'s?',
      answer: 'Step 04: `@mc escape-read=the host\'s secret`. After `chroot("/jail")` the current directory is still the container\'s "/", which is no longer the root, so no `..` stops there: the climb goes on up the host\'s tree (still in the container\'s mount namespace) to the host\'s "/", and `chroot(".")` makes that the root. Step 05: `@mc escape-read=error:2` (ENOENT): after pivot_root and the old root\'s unmount, the top of the climb is the container\'s own root; there is no host tree left to reach. Namespaces are not escaped this way (the hostname is still the container\'s), files are.',
    },
    {
      id: '05.x2',
      title: 'pivot_root without the detach',
      try: 'Comment out the unmount in your TODO(05.3) (leave the rest), then `sudo node steps/05-pivot-root/main.ts run /bin/sh -c \'ls /; echo ---; ls /..; cat /../etc/hostname; wc -l < /proc/self/mountinfo\'`. Put it back afterwards.',
      predict: '"/" is the rootfs now. What does `ls /..` list, and whose hostname file does `cat /../etc/hostname` read?',
      answer: '`ls /` lists Alpine, but `ls /..` lists the HOST\'s root, and `/../etc/hostname` is the host\'s file. pivot_root with the same folder twice stacked the old root on top of the new one at "/": a path that steps onto "/" through ".." walks onto the stacked mount. The container\'s mount table holds the host\'s root filesystem and all its mounts (dozens of lines instead of 10). The lazy unmount of TODO(05.3) takes them all out of the namespace at once. The checker\'s 05.old-root-gone and 05.no-way-up see it from the host.',
    },
    {
      id: '05.x3',
      title: 'A leaked descriptor (CVE-2024-21626)',
      try: 'Comment out `closeOnExecFrom(3)` in `execCommand()` (lib/init/container.ts: given code, used by every step). Then as root in bash (`sudo -s`; sudo itself closes the descriptors it was given): `bash -c \'exec 40</; node solutions/05-pivot-root/main.ts run /bin/sh -c "ls /proc/self/fd; cat /proc/self/fd/40/etc/hostname"\'`. Put the line back, and run it again.',
      predict: 'bash opens the host\'s "/" as descriptor 40 before starting the engine. The container is pivoted, its old root detached: does its shell get descriptor 40, and what does `cat /proc/self/fd/40/etc/hostname` print?',
      answer: 'Without the line the shell has descriptor 40 (`ls` shows `0 1 2 3 40`, maybe one more your terminal leaked) and reads the HOST\'s /etc/hostname through it: pivot_root and the detach change which paths lead where, and /proc/self/fd/40 does not start at a path but at the descriptor. runc 1.1.11 leaked such a descriptor of its own (an O_PATH one of /sys/fs/cgroup) into the container; `WORKDIR /proc/self/fd/7` in an image was enough to start with the host\'s tree as working directory. With the line: only `0 1 2 3` (3 is ls\'s own), and "No such file". Node marks inherited descriptors 3-16 close-on-exec itself at start-up, which is why the experiment uses 40.',
    },
    {
      id: '05.x4',
      title: 'Close instead of close-on-exec',
      try: 'In `closeOnExecFrom()` (lib/libc.ts), give close_range the flag 0 (close now) instead of CLOSE_RANGE_CLOEXEC. Run `sudo node steps/05-pivot-root/main.ts run ls` and `sudo node steps/05-pivot-root/main.ts run no-such-command; echo $?`. Put it back afterwards.',
      predict: 'Both ways, nothing but 0-2 reaches the command. What changes when the command does not exist?',
      answer: '`ls` runs fine: execve replaced Node before Node needed its descriptors. But `no-such-command` exits 139 (SIGSEGV) instead of 127: execve failed, so Node went on to print the error and exit, and its event loop\'s descriptors (epoll, eventfd, io_uring) were gone under its feet. runc has the same problem with the Go runtime\'s descriptors, and also marks them close-on-exec (close_range with CLOSE_RANGE_CLOEXEC) rather than closing them.',
    },
    {
      id: '05.x5',
      title: 'What pivot_root refuses, and why',
      try: [
        'With util-linux, in a throw-away mount namespace (nothing reaches the host):',
        '```sh',
        'mkdir -p /tmp/r',
        'sudo unshare -m sh -c \'mount --make-rprivate /; cd /tmp/r; pivot_root . .\'',
        'sudo unshare -m --propagation shared sh -c \'mount --bind /tmp/r /tmp/r; cd /tmp/r; pivot_root . .\'',
        'sudo unshare -m sh -c \'mount --make-rprivate /; mount --bind /tmp/r /tmp/r; cd /tmp/r; pivot_root . . && echo pivoted\'',
        '```',
      ].join('\n'),
      predict: 'Which errno does each give: a plain folder, a bind mount in a shared tree, a private bind mount?',
      answer: 'A plain folder of the root filesystem: EBUSY ("new_root ... is on the current root mount"), not EINVAL: the kernel checks that before "not a mount point" (you get EINVAL for a folder on another filesystem). A shared tree: EINVAL: a pivot in a shared mount would propagate to the host\'s namespace, so the kernel refuses. Private and a mount point: "pivoted". That is why step 01 makes "/" private and TODO(05.1) binds the rootfs onto itself.',
    },
  ],
}
