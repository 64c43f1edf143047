// Hints and experiments of step 04 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here. Levels 1-2 never show a solution line (test/leaks.test.ts).
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '04-network',
  todos: [
    {
      id: '04.1',
      concept: 'a network namespace of the container\'s own',
      nudge: 'Interfaces, addresses, routes, ports and firewall rules belong to a network namespace. Does this kind of namespace move the process that asks for it (like the mount namespace) or only its next child (like the PID one)? So which process must ask, and before what else in init?',
      api: '`unshare(flags)` (lib/libc.ts) with the network namespace\'s `CLONE_NEW*` flag: its name is in `man 7 network_namespaces` and in the table of `man 7 namespaces`. Import it from lib/libc.ts.',
    },
    {
      id: '04.2',
      concept: 'lo up, through a struct ifreq you fill in yourself',
      nudge: 'A new network namespace has `lo`, and it is down. `ip link set lo up` changes one bit of lo\'s flags. The kernel takes the request as a C struct in memory: what is in it, at which byte, and how do you change one bit and keep the others?',
      api: '`man 7 netdevice`: `struct ifreq { char ifr_name[IFNAMSIZ]; union { ...; short ifr_flags; ... }; }`. The name comes first, NUL-terminated, in IFNAMSIZ (16) bytes; the union starts right after it, and every member of a union starts at its first byte; ifr_flags is a 2-byte short in the CPU\'s byte order (little-endian on x86_64 and arm64). The whole struct is IFREQ_SIZE (40) bytes. `SIOCGIFFLAGS` fills ifr_flags in, `SIOCSIFFLAGS` sets the flags from it. lib/libc.ts: `ioctl(fd, request, buffer)`, `IFF_UP`, `IFNAMSIZ`, `IFREQ_SIZE`. Node\'s Buffer: `Buffer.alloc(size)` (zeroed), `buf.write(string, offset, length)`, `buf.readUInt16LE(offset)`, `buf.writeUInt16LE(value, offset)`; `|` sets a bit.',
    },
  ],
  experiments: [
    {
      id: '04.x1',
      title: 'Reach a server in the container from the host',
      try: '`sudo sh bin/node solutions/04-network/main.ts run -- nc -l -p 8080` (busybox\'s nc in the container) in one terminal. In another, with bash\'s /dev/tcp (no nc needed on the host): `echo hello > /dev/tcp/127.0.0.1/8080`, then `P=$(pgrep -f \'^nc -l -p 8080$\')`, `sudo nsenter -t $P -n ss -ltn`, plain `ss -ltn`, and `sudo nsenter -t $P -n bash -c \'echo hi > /dev/tcp/127.0.0.1/8080\'`.',
      predict: 'Does the host reach the server on 127.0.0.1:8080? Which `ss` lists the listening socket? And the last command?',
      answer: 'No: "Connection refused". The container\'s 127.0.0.1 is its own `lo`, in its own network namespace; the host\'s 127.0.0.1 is another interface altogether, and nothing listens on the host\'s port 8080. `nsenter -t PID -n ss -ltn` runs `ss` in the container\'s network namespace and shows the listener; plain `ss` does not. `nsenter -n` runs the host\'s bash in that namespace, and its connection reaches the server: it prints `hi`. Step 08 connects the two with a veth pair.',
    },
    {
      id: '04.x2',
      title: 'lo down',
      try: 'Remove the ioctl that SETS the flags from your TODO(04.2) and run `sudo sh bin/node steps/04-network/main.ts run /bin/sh -c \'ip addr show lo; ping -c1 -W1 127.0.0.1; wget -q -O- http://127.0.0.1:1/\'`. Put it back afterwards.',
      predict: 'What state and addresses does `ip addr` show for lo? What do ping and wget say?',
      answer: '`<LOOPBACK>`, `state DOWN`, no address at all; ping fails with "sendto: Network unreachable", wget with "can\'t connect to remote host (127.0.0.1): Network unreachable": with lo down the namespace has no route at all (`ip route` prints nothing). Once lo is up the kernel gives it 127.0.0.1/8 and ::1 and the local routes by itself.',
    },
    {
      id: '04.x3',
      title: 'Whose interfaces does /sys show?',
      try: '`sudo sh bin/node solutions/04-network/main.ts run /bin/sh -c \'cat /proc/net/dev; ls /sys/class/net; mount -t sysfs sysfs /sys && ls /sys/class/net; umount /sys\'`, and on the host `ls /sys/class/net`. Then `sudo ip netns add demo && sudo ip netns exec demo ip link; ls /run/netns; sudo ip netns del demo`.',
      predict: 'Does the container\'s /proc/net/dev list the host\'s interfaces? What is in /sys/class/net before and after the container mounts a sysfs?',
      answer: '/proc/net/dev (the container\'s procfs) lists only `lo`. The container has no /sys mounted: `ls /sys/class/net` fails. A sysfs mounted inside lists `lo` only: sysfs shows the network namespace of the process that mounted it, so one mounted from the host\'s namespace (or before the new one existed) would list the host\'s interfaces. `ip netns add` is the same new network namespace, kept alive by a bind mount on /run/netns/demo so that it outlives its processes; its `lo` is down too.',
    },
    {
      id: '04.x4',
      title: 'The container\'s network, from the host',
      try: 'Run `sudo sh bin/node solutions/04-network/main.ts run sleep 3600`; on the host: `P=$(pgrep -f "^sleep 3600$")`, `sudo nsenter -t $P -n ip -br addr`, `sudo lsns -t net -p $P`, `sudo ip netns identify $P`, `sudo readlink /proc/$P/ns/net /proc/self/ns/net`, and `cat /proc/sys/net/core/fb_tunnels_only_for_init_net`.',
      predict: 'Which interfaces and addresses does the container have? Does `ip netns` know its namespace?',
      answer: '`lo` with 127.0.0.1/8 and ::1/128, nothing else (on a host that loaded tunnel modules such as `sit` or `ipip`, and with `fb_tunnels_only_for_init_net` at 0, also their fallback devices `sit0`, `tunl0`, `ip6tnl0`..., down and without an address: the kernel puts one in every new network namespace; harmless, and the checker accepts them). `lsns -t net` finds the namespace through the process; `ip netns identify` prints nothing: `ip netns` only knows namespaces with a name under /run/netns, and the container\'s has none: it lives as long as its processes. Two processes are in the same network namespace when their /proc/PID/ns/net links read the same `net:[inode]`.',
    },
  ],
}
