// Hints and experiments of step 02 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here. Levels 1-2 never show a solution line (test/leaks.test.ts).
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '02-chroot',
  todos: [
    {
      id: '02.1',
      concept: 'a /dev of its own with the basic devices, and nothing else of the host\'s',
      nudge: 'Alpine\'s minirootfs ships an empty /dev. Where can the container\'s device nodes come from, if it must not get the host\'s whole /dev (its disks)? Where do they go, so that nothing is written into the rootfs itself? What has to exist before you can mount something onto a path? And why must all of this happen before the root changes?',
      api: 'Two kinds of `mount(source, target, fstype, flags, data)` (lib/libc.ts, `man 2 mount`). A new filesystem: a `tmpfs` (`man 5 tmpfs`; source is any name, `data` an option string such as "size=1m,mode=700"), with flags like `MS_NOSUID` (set-user-ID bits ignored), `MS_NOEXEC` (nothing runs from it), `MS_NODEV` (device nodes made on it cannot be opened). And a bind mount: `MS_BIND`, no type, makes an existing file or folder (the source) appear at the target as well; the target must exist, of the same kind (a file for a file). `fs.writeFileSync(path, \'\')` makes an empty file; `path.join` builds the paths under `dev`.',
    },
    {
      id: '02.2',
      concept: 'the rootfs as the root directory, and the working directory inside it',
      nudge: 'chroot changes what "/" means for this process. What does it do to the current working directory? Where does `ls ..` lead if the working directory is still in the host\'s tree?',
      api: '`chroot(path)` and `chdir(path)` in lib/libc.ts are chroot(2) and chdir(2). `man 2 chroot`, NOTES: "This call does not change the current working directory, so that after the call \'.\' can be outside the tree rooted at \'/\'." After chroot, paths are resolved inside the new root.',
    },
    {
      id: '02.3',
      concept: 'a proc filesystem of the container\'s PID namespace on /proc',
      nudge: 'A proc filesystem shows the processes of the PID namespace of the process that mounts it. Is init already in the container\'s PID namespace at this point? And inside the rootfs: which path is /proc now? What should no file on /proc ever be allowed to do (run, be a device, raise privileges)?',
      api: '`mount(source, target, fstype, flags)` with the filesystem type "proc" (`man 5 proc`); the source is only a label shown in the mount table (by convention the type\'s name). The target is a path as the process sees it after the chroot. The flags that forbid set-user-ID, device nodes and executing: `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`, combined with `|`.',
    },
  ],
  experiments: [
    {
      id: '02.x1',
      title: 'Forget the chdir',
      try: 'Remove the working-directory part of your TODO(02.2), then from the repository folder: `sudo sh bin/node steps/02-chroot/main.ts run /bin/sh -c \'pwd; ls ../../..; cat ../../../etc/os-release | head -1\'`. Put it back afterwards.',
      predict: 'What does `pwd` print? What does `ls ../../..` list, and which os-release does `cat` show?',
      answer: 'The working directory still is the host folder the engine ran in, outside the new root: busybox `pwd` cannot name it and prints an empty line, and `..` walks up the HOST\'s tree: `ls ../../..` lists the host\'s `/`, and `cat ../../../etc/os-release` shows the host\'s distribution (Ubuntu in the VM), while `/etc/os-release` says Alpine. The root directory only limits paths that start with "/" (and `..` at the root). From the host, `readlink /proc/PID/cwd` shows where the command stands.',
    },
    {
      id: '02.x2',
      title: 'A container without its own /proc',
      try: 'Remove your TODO(02.3) code, then `sudo sh bin/node steps/02-chroot/main.ts run /bin/sh -c \'ps; ls /proc; echo hi > /dev/stdout; echo $?\'`. Put it back and run it again.',
      predict: 'What do `ps` and `ls /proc` print without a /proc? Why would `echo hi > /dev/stdout` care?',
      answer: 'Alpine\'s /proc is an empty folder: busybox `ps` prints only its header, `ls /proc` nothing, and `/dev/stdout` (a link to /proc/self/fd/1) leads nowhere: "can\'t create /dev/stdout: nonexistent directory". The engine itself does not need /proc any more at that point (init read what it needed before the chroot), so the command runs. With a proc filesystem mounted by init (PID 1 of the new namespace), `ps` lists only the container\'s processes, numbered from 1.',
    },
    {
      id: '02.x3',
      title: 'The container\'s mounts, seen from the host',
      try: 'Run `sudo sh bin/node solutions/02-chroot/main.ts run sleep 3600`; on the host: `P=$(pgrep -f "^sleep 3600$")`, `sudo findmnt -N $P`, `sudo readlink /proc/$P/root /proc/$P/cwd`, `sudo ls /proc/$P/root/`, and `findmnt | grep rootfs`.',
      predict: 'Which mounts does `findmnt -N` list for the container, and does the host\'s own `findmnt` show any of them? What is /proc/PID/root?',
      answer: '`findmnt -N PID` reads /proc/PID/mountinfo, which lists the mounts of the process\'s mount namespace that are reachable from its root, relative to that root: the tmpfs on /dev, the six bind-mounted device nodes (their source is the host\'s devtmpfs: `devtmpfs[/null]`, or `udev[/null]` on Debian and Ubuntu), /dev/shm and proc on /proc. The host\'s `findmnt` has none of them: they live in the container\'s private mount namespace and vanish with its last process. /proc/PID/root is a link to the process\'s root directory (the Alpine folder): listing it from the host shows Alpine\'s files.',
    },
    {
      id: '02.x4',
      title: 'The short /dev is not a wall: mknod',
      try: 'On the host, find your disk\'s device numbers: `findmnt -no SOURCE,MAJ:MIN /` (e.g. `/dev/sda1 8:1`). Then `sudo sh bin/node solutions/02-chroot/main.ts run /bin/sh -c \'mknod /dev/disk b 8 1 && ls -l /dev/disk && head -c 1100 /dev/disk | tail -c 20 | od -An -tx1\'` with your numbers.',
      predict: 'The container\'s /dev holds six harmless nodes. Can it make a seventh, for the host\'s disk, and read it?',
      answer: 'Yes: the command is root with every capability, including CAP_MKNOD; `mknod` creates a block device node on the /dev tmpfs (which is not `nodev`), and opening it reads the host\'s disk (an ext4 superblock shows its magic `53 ef` at offset 1080). With CAP_SYS_ADMIN it could even mount it. (A host may forbid raw disk access to everyone, its own root included, through a devices cgroup or an LSM: then the open fails with EPERM, and that is the host\'s protection, not the engine\'s.) The short list of bind-mounted devices is only safe once CAP_MKNOD and CAP_SYS_ADMIN are dropped and /dev is `nodev` or the devices cgroup allows nothing else, as docker does: step 07 closes this hole.',
    },
    {
      id: '02.x5',
      title: 'Two mounts on one place, and what EBUSY means',
      try: '`sudo sh bin/node solutions/02-chroot/main.ts run /bin/sh -c \'mount -t tmpfs one /mnt && mount -t tmpfs two /mnt && grep /mnt /proc/mounts; cd /mnt && umount /mnt; echo $?; cd / && umount /mnt && grep /mnt /proc/mounts\'`',
      predict: 'Does the second mount on /mnt fail with EBUSY ("already mounted")? Which of the two umounts fails, and why?',
      answer: 'Both mounts succeed: mounts stack, the newest hides the ones below (`/proc/mounts` lists `one` and `two`). EBUSY comes from unmounting a mount that is in use: with the shell\'s working directory on it, `umount` says "Resource busy"; from `/` it works and `one` is visible again. mount(2) itself returns EBUSY only in rare cases (a read-only remount while files are open for writing; a few attempts to stack a mount on an identical one).',
    },
  ],
}
