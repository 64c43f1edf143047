// Hints and experiments of step 04 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '04-network',
  todos: [
    {
      id: '04.1',
      concept: 'a network namespace of the container\'s own',
      nudge: 'Interfaces, addresses, routes and firewall rules belong to a network namespace. Which process must be in the new one, and before what else in init?',
      api: '`unshare(2)` with the network namespace\'s flag (`man 7 network_namespaces`; the flag is exported by lib/libc.ts). This runs in init, before the rootfs is entered.',
    },
    {
      id: '04.2',
      concept: 'lo up in the container\'s network namespace',
      nudge: 'A new network namespace has one interface, `lo`, and it is down. Bringing an interface up changes one bit of its flags: how do you change one bit and keep the others?',
      api: 'The interface flags are read and written with the ioctls SIOCGIFFLAGS and SIOCSIFFLAGS (`man 7 netdevice`); lib/libc.ts wraps them as `getInterfaceFlags(name)` and `setInterfaceFlags(name, flags)`. The bit is `IFF_UP`; a bitwise OR sets it.',
    },
  ],
  experiments: [
    {
      id: '04.x1',
      title: 'Reach a server in the container from the host',
      try: '`sudo node solutions/04-network/main.ts run -- nc -l -p 8080` (or `busybox nc -lp 8080`), then on the host `nc 127.0.0.1 8080`.',
      predict: 'Does the host reach the server on 127.0.0.1:8080?',
      answer: 'No: the container\'s 127.0.0.1 is its own loopback, in its own network namespace; the host\'s 127.0.0.1 is another interface altogether. `sudo nsenter -t PID -n ss -ltn` shows the listening socket in the container\'s namespace, and plain `ss -ltn` on the host does not. Step 08 connects the two with a veth pair.',
    },
    {
      id: '04.x2',
      title: 'lo down',
      try: 'Remove your TODO(04.2) code and run `sudo node steps/04-network/main.ts run /bin/sh -c \'ip link show lo; ping -c1 -W1 127.0.0.1\'`. Put it back afterwards.',
      predict: 'What does ping say, and what state does `ip link` show?',
      answer: '`state DOWN`, no 127.0.0.1 address, and ping fails with "Network unreachable" (or sendto: Network unreachable): with lo down the namespace has no route at all. Bringing lo up makes the kernel add 127.0.0.1/8 and ::1 to it and the local routes.',
    },
    {
      id: '04.x3',
      title: 'Whose interfaces does /sys show?',
      try: '`sudo node solutions/04-network/main.ts run /bin/sh -c \'cat /proc/net/dev; ls /sys/class/net\'` and on the host `ls /sys/class/net`; then `sudo ip netns add demo && sudo ip netns exec demo ip link; sudo ip netns del demo`.',
      predict: 'Do /proc/net/dev and /sys/class/net inside the container list the same interfaces?',
      answer: '/proc/net/dev (with the container\'s procfs) lists only lo. /sys is not mounted in the container here, so /sys/class/net is empty or missing; a sysfs mounted before the network namespace existed would show the host\'s interfaces: sysfs shows the network namespace of the process that mounted it. `ip netns` is the same unshare(CLONE_NEWNET) with a name kept in /run/netns.',
    },
  ],
}
