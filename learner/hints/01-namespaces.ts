// Hints and experiments of step 01 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here. Levels 1-2 never show a solution line (test/leaks.test.ts).
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '01-namespaces',
  todos: [
    {
      id: '01.1',
      concept: 'a PID namespace whose first process is the container',
      nudge: 'Which process becomes PID 1 of a new PID namespace: the one that asks for it, or a child it creates afterwards? This function runs in the engine, on the host side, right before init is spawned. What would go wrong if init asked for it itself?',
      api: '`unshare(flags)` in lib/libc.ts is unshare(2): it asks for new namespaces for the calling process, one `CLONE_NEW*` bit per kind of namespace (the constants are in lib/libc.ts, the list in `man 7 namespaces`). Read in `man 2 unshare` what the PID flag does to the caller: "the calling process is not moved into the new namespace".',
    },
    {
      id: '01.2',
      concept: 'mount, UTS and IPC namespaces of its own',
      nudge: 'Three kernel resources must stop being shared with the host: the mount table, the hostname and System V IPC. Can one system call ask for several namespaces at once? And why must it be init that asks, not the engine?',
      api: '`unshare(flags)` takes a bit mask: combine several `CLONE_NEW*` constants with the bitwise OR operator `|`. Which constant is which: the "Flag" column of the table in `man 7 namespaces` (mount namespaces have the oldest, least obvious name). Import the constants you use from lib/libc.ts.',
    },
    {
      id: '01.3',
      concept: 'mount propagation stopped at the container\'s edge',
      nudge: 'A new mount namespace starts as a copy of the host\'s, propagation types included. On a systemd host "/" is shared: what happens to a mount made inside, then? Look at the PROPAGATION column of `findmnt -o TARGET,PROPAGATION`. And is changing "/" enough, when "/" has mounts below it?',
      api: '`mount(source, target, fstype, flags, data)` in lib/libc.ts is mount(2). With no source and no type (`null`), and one propagation flag, it changes the propagation type of the existing mount `target`: `MS_SHARED`, `MS_PRIVATE`, `MS_SLAVE` or `MS_UNBINDABLE`; adding `MS_REC` applies it to every mount below the target too. See "Changing the propagation type of an existing mount" in `man 2 mount`, and `man 7 mount_namespaces`. util-linux\'s `mount --make-rprivate` does it from a shell.',
    },
    {
      id: '01.4',
      concept: 'the requested hostname, inside the UTS namespace',
      nudge: 'The hostname comes from the command line (`--hostname`, default "container"), not from a constant. And whose hostname changes if this runs before the UTS namespace exists?',
      api: '`sethostname(name)` in lib/libc.ts is sethostname(2) (it passes the length for you; the kernel takes at most 64 bytes). The name arrives as this function\'s parameter: init received it in its configuration.',
    },
    {
      id: '01.5',
      concept: 'the engine\'s exit status: the command\'s code, or 128 + the number of the signal that killed it',
      nudge: 'A process ends in one of two ways: it exits with a code (0-255), or a signal kills it and there is no code at all. A shell, docker and CI all squeeze both into one number: how does `sh -c \'kill -9 $$\'; echo $?` on your host report it? Which numbers can never be a signal death?',
      api: '`ended` is `{ code, signal }`: one of them is null; `signal` is a name such as "SIGKILL". Node maps names to numbers in `os.constants.signals` (import `os` from node:os). The convention is in `man 1 bash`, section "EXIT STATUS" ("128+n"); the numbers in `man 7 signal`. `EXIT.SIGNAL_BASE` (lib/errors.ts) is the 128, `EXIT.ENGINE_FAILED` (125) is for "the engine itself failed".',
    },
  ],
  experiments: [
    {
      id: '01.x1',
      title: 'unshare without --fork',
      try: 'In the VM, as root: `unshare --pid sh -c \'echo $$; ls >/dev/null; ls >/dev/null\'`, then `unshare --pid --fork sh -c \'echo $$\'`.',
      predict: 'Which PID does the first shell print? The first `ls` runs; what happens to the second one, and why?',
      answer: 'The first shell prints its ordinary host PID: a new PID namespace does not take the process that asks for it. Its FIRST child (the first `ls`) becomes PID 1 of the new namespace, and when that child exits the namespace has no init any more: the kernel refuses every further fork into it with ENOMEM (dash says `Cannot fork`, bash `fork: Cannot allocate memory`; `strace -f -e trace=vfork,clone` shows the errno). With `--fork`, unshare forks once after the call, so the shell itself is that first child: it prints 1. The engine does the same: the new PID namespace in the engine, then exactly one child, init.',
    },
    {
      id: '01.x2',
      title: 'Skip the private remount and watch the host',
      try: 'Comment out your TODO(01.3) code. In the VM, in one terminal: `sudo sh bin/node steps/01-namespaces/main.ts run /bin/sh -c \'mount -t tmpfs mc-demo /mnt; sleep 30\'`; in another, while it runs and after it ended: `findmnt -o TARGET,SOURCE,PROPAGATION /mnt`. Put your code back, then `sudo umount /mnt`. (On a host whose "/" is private, `findmnt -o TARGET,PROPAGATION /` says so: run both commands inside `sudo unshare --mount --propagation shared --fork bash`, a throw-away host whose mounts are shared.)',
      predict: 'Does the host see the tmpfs on /mnt while the container runs? After it ended? And with your TODO(01.3) code back?',
      answer: 'With "/" shared (systemd makes every mount shared at boot), the container\'s copy of "/" is a peer of the host\'s: the tmpfs mounted inside propagates to the host (`findmnt` shows `mc-demo` on /mnt, `shared`), and it stays after the container is gone, because nothing unmounts it on the host\'s side. With the private remount, nothing crosses in either direction. The checker tests this inside `unshare --mount --propagation shared` for the same reason as the note above: so a missing remount shows even on a host whose "/" is private.',
    },
    {
      id: '01.x3',
      title: 'Find the container from the host',
      try: 'Run `sudo sh bin/node solutions/01-namespaces/main.ts run --hostname box1 sleep 3600` in one terminal. In another: `P=$(pgrep -f "^sleep 3600$")`, then `grep NSpid /proc/$P/status`, `sudo lsns -p $P`, `sudo nsenter -t $P -u hostname` and plain `hostname`.',
      predict: 'How many numbers does the NSpid line show, and what is the last one? Which namespaces does `lsns` list with the container\'s own PID in its PID column? What do the two `hostname` commands print?',
      answer: 'NSpid lists the process\'s number in each PID namespace it belongs to, outermost first: two numbers, the host\'s PID and 1. `lsns -p` lists the namespaces of the process; pid, mnt, uts and ipc are new (the container\'s process is the only one in them, so their PID column shows it), net, cgroup, time and user are the host\'s. `nsenter -t PID -u` runs a command in the process\'s UTS namespace: it prints box1, while the host\'s `hostname` is unchanged. `nsenter -t PID -a` would enter them all: that is how `docker exec` works.',
    },
    {
      id: '01.x4',
      title: 'Signals and PID 1',
      try: 'With your engine (TODO(01.5) done): `sudo sh bin/node steps/01-namespaces/main.ts run /bin/sh -c \'kill -TERM 1; kill -KILL $$; echo survived\'; echo status=$?`. Then `... run sleep 3600` in one terminal and from another `sudo kill -TERM $(pgrep -f "^sleep 3600$")`, then `sudo kill -KILL` the same PID, and look at the first terminal\'s `echo $?`. Last: `... run /bin/sh -c \'ulimit -s 256; f() { f; }; f\'; echo status=$?`.',
      predict: 'Does the shell survive its own SIGTERM and SIGKILL? Does `sleep` die of the host\'s SIGTERM, of its SIGKILL? Which exit status does the engine report for each, and for the last command?',
      answer: 'The shell prints `survived`, status 0: the kernel drops a signal sent to a PID namespace\'s init from inside the namespace unless init installed a handler for it, SIGKILL included (`man 7 pid_namespaces`). From the host (an ancestor namespace) the same rule holds for SIGTERM, so `sleep` ignores it; SIGKILL and SIGSTOP are the exceptions and are always delivered: status 137 = 128 + 9. Signals the kernel itself raises for a fault also get through: the shell that recurses into a 256 KiB stack dies of SIGSEGV, status 139 = 128 + 11. So does the OOM killer\'s SIGKILL (step 03). The engine stops a container whose init ignores a stop signal with SIGKILL from the host, and reports 128 + the stop signal (Ctrl-C: 130).',
    },
    {
      id: '01.x5',
      title: 'ps without a /proc of its own',
      try: 'With the step 01 engine (no /proc of the container\'s own yet): `sudo sh bin/node steps/01-namespaces/main.ts run /bin/sh -c \'echo $$; ps -p $$; sh -c ps; true\'`, and `... run ps | head -3`.',
      predict: 'The shell is PID 1 in its namespace. What does `ps -p $$` show? And a plain `ps` started by that shell?',
      answer: '`ps` reads /proc, and the /proc it sees is the host\'s, mounted by a process of the host\'s PID namespace: its numbers are host numbers. `ps -p 1` shows the host\'s PID 1 (systemd in the VM), not the shell. A plain `ps` looks itself up under its own PID (a small number of the new namespace, such as 9): if the host happens to have a process with that number it lists the host\'s processes, if not procps stops with `fatal library error, lookup self`. `run ps` (ps itself PID 1) lists the host\'s processes. Step 02 mounts a /proc of the container\'s own; until then trust `echo $$` and `readlink /proc/self/ns/pid`.',
    },
  ],
}
