// Hints and experiments of step 02 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '02-chroot',
  todos: [
    {
      id: '02.1',
      concept: 'a /dev of its own with the basic devices',
      nudge: 'Alpine\'s minirootfs ships an empty /dev. Where can the container\'s device nodes come from, if it should not get the host\'s whole /dev? And why must this happen before the root changes?',
      api: 'A small `tmpfs` on the rootfs\'s dev folder (`mount(2)` with type "tmpfs", flags `MS_NOSUID | MS_NOEXEC`, a `mode=` and `size=` option string), then for each name in `DEVICES` an empty file as mount point and a bind mount (`MS_BIND`) of the host\'s `/dev/NAME` onto it. `man 2 mount`, "Creating a bind mount".',
    },
    {
      id: '02.2',
      concept: 'the rootfs as the root directory, and the working directory inside it',
      nudge: 'chroot changes what "/" means for this process. What does it do to the current working directory? Where does `ls ..` lead if the working directory is still on the host?',
      api: '`chroot(2)` then `chdir(2)` (both in lib/libc.ts). `man 2 chroot`: "This call does not change the current working directory".',
    },
    {
      id: '02.3',
      concept: 'a proc filesystem of the container\'s PID namespace on /proc',
      nudge: 'A proc filesystem shows the processes of the PID namespace of the process that mounts it. Is init already in the container\'s PID namespace and inside the rootfs at this point?',
      api: '`mount(2)` with source "proc", type "proc" on `/proc` (a path inside the rootfs now), with `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`. `man 5 proc`.',
    },
  ],
  experiments: [
    {
      id: '02.x1',
      title: 'Forget the chdir',
      try: 'Remove the `chdir` from your changeRoot(), then `sudo node steps/02-chroot/main.ts run /bin/sh -c \'pwd; ls ../../..\'` from the repository folder. Put it back afterwards.',
      predict: 'What does `pwd` print, and what does `ls ../../..` list?',
      answer: 'The working directory still points at the host folder the engine ran in; `pwd` cannot name it (it prints a path relative to the old tree, or "(unreachable)"), and `..` walks up the HOST\'s tree: `ls ../../..` lists the host\'s `/`. The root directory only limits paths that start with "/". The checker catches this from the host through `/proc/PID/cwd`.',
    },
    {
      id: '02.x2',
      title: 'ps without its own /proc',
      try: 'Remove your TODO(02.3) code and run `sudo node steps/02-chroot/main.ts run ps`. Then put it back and run `ps` again.',
      predict: 'What does ps print without a /proc, and with one mounted inside the container?',
      answer: 'Without /proc, busybox `ps` finds nothing to read and prints only its header (or an error). With a proc filesystem mounted by init (already PID 1 of the new PID namespace), it lists only the container\'s processes, numbered from 1. A proc mounted from the host\'s PID namespace would list every process of the host.',
    },
    {
      id: '02.x3',
      title: 'Look at the container\'s mounts from the host',
      try: 'Run `sudo node solutions/02-chroot/main.ts run sleep 300`, then on the host: `findmnt -N PID` (or `cat /proc/PID/mountinfo`), and `sudo ls -l /proc/PID/root/`.',
      predict: 'Which mounts does the container have that the host does not? What is `/proc/PID/root`?',
      answer: '`findmnt -N PID` reads the container\'s mount namespace: the tmpfs on .../dev with the bind-mounted devices, /dev/shm, and proc on /proc, none of which appear in the host\'s own `findmnt`. `/proc/PID/root` is a link to the process\'s root directory: listing it from the host shows Alpine\'s files.',
    },
  ],
}
