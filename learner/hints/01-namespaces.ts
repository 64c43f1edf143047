// Hints and experiments of step 01 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '01-namespaces',
  todos: [
    {
      id: '01.1',
      concept: 'a PID namespace whose first process is the container',
      nudge: 'Which process becomes PID 1 of a new PID namespace: the one that asks for it, or a child it creates afterwards? This function runs on the host side, just before init is spawned.',
      api: '`unshare(2)` asks for new namespaces for the calling process; one `CLONE_NEW*` flag per kind of namespace (lib/libc.ts exports both). For PID namespaces, read "the caller is not moved" in `man 2 unshare`.',
    },
    {
      id: '01.2',
      concept: 'mount, UTS and IPC namespaces of its own',
      nudge: 'Three kernel resources must stop being shared with the host: the mount table, the hostname and System V IPC. Can one system call ask for several namespaces at once?',
      api: '`unshare(2)` takes a bit mask: combine flags with `|`. The flags for mounts, hostname and IPC are listed in `man 7 namespaces` (the "Flag" column) and exported by lib/libc.ts. This runs in init, which is already PID 1.',
    },
    {
      id: '01.3',
      concept: 'mount propagation stopped at the container\'s edge',
      nudge: 'A new mount namespace starts as a copy of the host\'s, including each mount\'s propagation type. On a systemd host "/" is shared: what happens to a mount made inside, then? Look at the PROPAGATION column of `findmnt -o TARGET,PROPAGATION`.',
      api: '`mount(2)` with a NULL source and type changes the propagation of an existing mount point: `MS_PRIVATE` (or `MS_SLAVE`), and `MS_REC` to apply it to every mount below. See "Changing the propagation type of an existing mount" in `man 2 mount` and `man 7 mount_namespaces`.',
    },
    {
      id: '01.4',
      concept: 'the requested hostname, inside the UTS namespace',
      nudge: 'The hostname comes from the command line (`--hostname`), not from a constant. And whose hostname changes if this runs before the UTS namespace exists?',
      api: '`sethostname(2)` (lib/libc.ts wraps it with the length). The value is in the configuration init received: the parameter of this function.',
    },
  ],
  experiments: [
    {
      id: '01.x1',
      title: 'unshare without --fork',
      try: 'In the VM, as root: `unshare --pid sh -c \'echo $$; ls /proc/self\'`, then `unshare --pid sh` and type `ls` twice. Then `unshare --pid --fork sh -c \'echo $$\'`.',
      predict: 'Which PID does the first shell print? Why can the interactive shell run one command and then fail with "fork: Cannot allocate memory"?',
      answer: '`unshare(CLONE_NEWPID)` does not move the caller: the shell keeps its host PID, and its FIRST child becomes PID 1 of the new namespace. When that child exits, the namespace has no init any more and the kernel refuses every further fork into it with ENOMEM. `--fork` makes unshare fork once after the call, so the shell itself is the first child: PID 1. The engine does the same: `unshare` in the host process, then spawn init.',
    },
    {
      id: '01.x2',
      title: 'Skip the private remount and watch the host',
      try: 'Comment out your TODO(01.3) code, then in one terminal `sudo node steps/01-namespaces/main.ts run /bin/sh -c \'mount -t tmpfs none /mnt; sleep 30\'` and in another `findmnt -o TARGET,PROPAGATION /mnt`. Put the code back afterwards (and `sudo umount /mnt` if it stayed).',
      predict: 'On the VM (systemd: "/" is shared) does the host see the tmpfs on /mnt? Would it on a host where "/" is private?',
      answer: 'With "/" shared, a mount made in a copy of the namespace propagates back to its peers: the host gets the tmpfs, and it stays after the container is gone. On a host whose "/" is private nothing propagates even without TODO(01.3), which is why the checker runs the engine inside `unshare --mount --propagation shared` to test it. `findmnt` shows `shared` for the VM\'s "/".',
    },
    {
      id: '01.x3',
      title: 'Find the container from the host',
      try: 'Run `sudo node solutions/01-namespaces/main.ts run sleep 300` in one terminal. In another: `pgrep -f "sleep 300"`, then `grep NSpid /proc/PID/status`, `lsns -p PID`, and `sudo nsenter -t PID -u hostname`.',
      predict: 'How many numbers does the NSpid line show, and what is the last one? Which namespaces does `lsns` list as different from the host\'s?',
      answer: 'NSpid lists the process\'s PID in each PID namespace it belongs to, outermost first: two numbers, the host\'s PID and 1. `lsns -p` shows the pid, mnt, uts and ipc namespaces as new (their inode numbers differ from PID 1 of the host), net and cgroup as the host\'s. `nsenter -t PID -u` runs a command in the container\'s UTS namespace: it prints the container\'s hostname.',
    },
  ],
}
