// Hints and experiments of step 08 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '08-networking',
  todos: [
    {
      id: '08.1',
      concept: 'a free address for the container',
      nudge: 'A /24 subnet has 256 addresses. Which of them can never be a container\'s, and which one does the bridge already have? Walk the others from the lowest and take the first nobody holds. What should happen when all are held?',
      api: '`parseSubnet(SUBNET)` (lib/net/ipv4.ts) gives the first address (`network`) and the last (`broadcast`) as numbers; `numberToIp(n)` turns a number back into "10.99.0.5". `taken.has(address)` says whether a running container holds one. Throw a `FriendlyError(message, { hint })` (lib/errors.ts) when none is left.',
    },
    {
      id: '08.2',
      concept: 'the veth pair, its host end on the bridge',
      nudge: 'A veth pair is made as a pair, in one request, with both ends on the host at first. What must be true of the host\'s end so that frames coming out of it reach the bridge, and the bridge\'s frames reach it?',
      api: 'On the host\'s `RouteSocket` (lib/net/netlink.ts): `createVethPair(name, peerName, { peerMac })` sends RTM_NEWLINK with IFLA_INFO_KIND "veth" and the peer in VETH_INFO_PEER; `setLink(name, { master, up })` sends RTM_NEWLINK with IFLA_MASTER (the bridge\'s index) and IFF_UP. `man 4 veth`; `ip link add ... type veth peer name ...` does the same.',
    },
    {
      id: '08.3',
      concept: 'the pair\'s other end moved into the container by PID, as eth0',
      nudge: 'The container\'s network namespace has no name the host could use, but it has a process in it. Which attribute of a link request names a namespace by a process? And why rename the end to eth0 only once it is inside?',
      api: 'On the host\'s `RouteSocket`, `setLink` takes a link\'s current name and options, and sends one RTM_NEWLINK: among its options `netnsPid` (IFLA_NET_NS_PID: the kernel moves the link into the network namespace of that process) and `name` (IFLA_IFNAME: the link\'s new name, given where it ends up). `peerName(lease)` is the end\'s name on the host. `ip link set DEV netns PID name NEW` is the same; `man 7 network_namespaces`.',
    },
    {
      id: '08.4',
      concept: 'eth0\'s address and the default route, inside the container',
      nudge: 'Three things make eth0 usable: an address (with the subnet\'s prefix length), the link up, a default route to the bridge. The kernel checks a route\'s gateway against the routes it already has: which must come first?',
      api: 'Methods of `inside` (a RouteSocket made in the container\'s namespace): `addAddress` (RTM_NEWADDR: a link, an address and its prefix length, which `parseSubnet` gives for SUBNET; with the prefix the kernel also adds the route to the subnet), `setLink` with its `up` option (IFF_UP), `addDefaultRoute` (RTM_NEWROUTE with RTA_GATEWAY, table main). The order: try one, read the errno the kernel answers (lib/net/netlink.ts explains each), and `man 7 rtnetlink`.',
    },
    {
      id: '08.5',
      concept: 'the container\'s NAT rules (masquerade out, DNAT for published ports), tagged',
      nudge: 'Going out, whose address must the packets carry so that the answers find their way back? Coming in, which address and port does the outside know, and where must the kernel send such a packet instead? How will the engine find exactly this container\'s rules again when it ends?',
      api: 'nft commands, one per line: `add rule ip TABLE CHAIN MATCHES STATEMENT comment "TEXT"`. Matches: `ip saddr ADDRESS`, `oifname != "NAME"`, `tcp dport PORT` (or `udp dport`). Statements: `masquerade`, `dnat to ADDRESS:PORT`. `man 8 nft`, sections RULES, STATEMENTS (NAT statements) and the `comment` of a rule; the chains are `outbound` and `published` of table ip NAT_TABLE (sharedRules()).',
    },
  ],
  experiments: [
    {
      id: '08.x1',
      title: 'Follow the cable',
      try: 'In the VM: `sudo sh bin/node steps/08-networking/main.js run /bin/sh`. Inside: `ip -d link show eth0` (note `@ifN`). On the host, in a second terminal: `ip -br link`, `ip link show master mc0`, `bridge link`, and `sudo nsenter -t $(pgrep -n -x sh) -n ip addr`.',
      predict: 'Which host interface is the other end of the container\'s eth0, and how can you tell from both sides?',
      answer: 'eth0 shows `eth0@ifN`: N is the index of its peer in the host\'s namespace, and on the host the `vethXXXXXXXX@ifM` with index N shows M, eth0\'s index inside. The host end is `master mc0` (`bridge link` lists it as a port). `nsenter -n` enters only the network namespace, so `ip` there shows what the container sees.',
    },
    {
      id: '08.x2',
      title: 'ARP: who has 10.99.0.1?',
      try: 'Run a container with `/bin/sh`; inside: `ip neigh; ping -c1 10.99.0.1; ip neigh`. On the host: `ip neigh show dev mc0`, and `ip link show mc0` for the bridge\'s MAC.',
      predict: 'Before the ping the container\'s neighbour table is empty. What is in it afterwards, and what does the host learn at the same time?',
      answer: 'The container asked "who has 10.99.0.1?" on eth0 (an ARP broadcast that the bridge floods to its ports and answers itself): its table now holds 10.99.0.1 at the bridge\'s MAC, 02:6d:0a:63:00:01 (made from 10.99.0.1 by `macForAddress`). The host learned the container\'s address at eth0\'s MAC from the request. Every packet to the outside goes to that MAC: the default route says "via 10.99.0.1", ARP says where 10.99.0.1 is.',
    },
    {
      id: '08.x3',
      title: 'NAT in the connection tracking table',
      try: 'Run `sudo sh bin/node steps/08-networking/main.js run -- /bin/sh` (the workshop box has the `conntrack` tool; elsewhere `sudo apt-get install conntrack`), and inside `wget -q -O /dev/null http://ADDRESS` with an ADDRESS from `getent hosts example.com` on the host (the container has no DNS), then on the host `sudo conntrack -L | grep 10.99.0` and `sudo nft list table ip minicontainer`.',
      predict: 'A connection is tracked as two tuples: the packets as they were sent, and the answers as they will come back. Which addresses are in each?',
      answer: 'The first tuple is `src=10.99.0.2 dst=<server>`, the second `src=<server> dst=<the VM\'s address>`: masquerade rewrote the source on the way out, and conntrack rewrites the destination of every answer back to 10.99.0.2. NAT happens once per connection (its first packet goes through the nat chains); the rest follows the tracked entry. Without the `outbound` rule the answers go to 10.99.0.2, which no router out there knows.',
    },
    {
      id: '08.x4',
      title: 'What docker run -p really does',
      try: 'Run `sudo sh bin/node steps/08-networking/main.js run --publish 8080:80 -- nc -lk -p 80 -e echo hello` (busybox\'s nc in the container). On the host, with bash\'s /dev/tcp (no nc needed there): `cat < /dev/tcp/127.0.0.1/8080`, `cat < /dev/tcp/$(hostname -I | cut -d" " -f1)/8080`, then `ss -ltn | grep 8080` and `sudo nft list chain ip minicontainer published`. Stop the container and try `cat < /dev/tcp/127.0.0.1/8080` again.',
      predict: 'Is any process on the host listening on port 8080?',
      answer: 'No: `ss` shows nothing on 8080. The DNAT rule rewrites the destination of packets to the host\'s port 8080 into 10.99.0.x:80 before routing, in prerouting (from outside) and in output (from the host itself; for 127.0.0.1 the bridge needs route_localnet, and the source is masqueraded to the bridge\'s address). Docker does the same with iptables rules, and by default also runs docker-proxy, a process that listens on 8080 and copies bytes: that is what a 127.0.0.1 connection hits there. After the container stops the rule is gone: bash says `Connection refused`.',
    },
    {
      id: '08.x5',
      title: 'Who may change the container\'s network?',
      try: 'Run `sudo sh bin/node steps/08-networking/main.js run /bin/sh` and inside: `ip addr add 10.99.0.200/24 dev eth0; ip link set eth0 down; ip route del default; ip route`. In a second terminal on the host: `P=$(pgrep -n -x sh)`, `grep CapEff /proc/$P/status`, `capsh --decode=HEX` with the number it printed, then `sudo nsenter -t $P -n ip addr add 10.99.0.200/24 dev eth0`, and `ip addr show eth0` again inside.',
      predict: 'The shell inside is root (uid 0). Which of the three changes does the kernel let it make, and does the same command from the host with nsenter fare any better?',
      answer: 'None: `RTNETLINK answers: Operation not permitted` for the address and the route, `ioctl 0x8914 failed: Operation not permitted` for the link (busybox sets flags with SIOCSIFFLAGS). Changing a network namespace needs CAP_NET_ADMIN in it, and step 7 dropped it from every set (capsh lists no cap_net_admin): uid 0 alone is not enough. From the host, `nsenter -n` joins only the network namespace and keeps the host root\'s capabilities, so the address appears inside. The engine configures eth0 the same way: as the host, before the command starts.',
    },
  ],
}
