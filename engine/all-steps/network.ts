// @file-since 04-network
// Step 04: a network namespace. A new one has its own interfaces, routes and firewall, and starts
// with the loopback `lo`, DOWN (plus, on hosts that loaded tunnel modules, their fallback tunnel
// devices such as sit0 or tunl0, also down and without addresses).
// @imports 04-network
// @starter
// // What the given code uses. Your TODOs need more of lib/libc.ts: import it here.
// import { AF_INET, SOCK_DGRAM, close, socket } from '../../lib/libc.ts'
// @solution
import { AF_INET, CLONE_NEWNET, IFF_UP, IFNAMSIZ, IFREQ_SIZE, SIOCGIFFLAGS, SIOCSIFFLAGS, SOCK_DGRAM, close, ioctl, socket, unshare } from '../../lib/libc.ts'
// @end

/** Container side: a network stack of the container's own, invisible to and from the host's. */
export function enterNetworkNamespace(): void {
  // @todo 04-network
  // TODO(04.1): Give the container a network stack of its own: interfaces, addresses, routes,
  //   ports and firewall that are not the host's. Why in init, before the rootfs: it moves the
  //   caller, and the command inherits it through execve.
  //   Lesson: "1. A network namespace". See man 7 network_namespaces and man 2 unshare.
  // @solution
  unshare(CLONE_NEWNET)
  // @end
}

/** `ip link set lo up`: then the kernel gives lo 127.0.0.1/8 and ::1, and localhost answers. */
export function bringUpLoopback(): void {
  // Any socket will do: the interface ioctls act on the network namespace the socket was made in,
  // which is the container's here (this runs after enterNetworkNamespace()).
  const fd = socket(AF_INET, SOCK_DGRAM)
  try {
    // @todo 04-network
    // TODO(04.2): Bring `lo` up as `ip link set lo up` does, with the two interface-flags ioctls
    //   on `fd`: fill in a struct ifreq yourself (its layout is in man 7 netdevice: where does
    //   the name go, where do the flags go, how many bytes, in which byte order?), and change
    //   the one flag that means "up" while keeping the others. Why: a new network namespace
    //   starts with lo down, and nothing answers on 127.0.0.1 until it is up.
    //   Lesson: "2. Bringing lo up". See man 7 netdevice and man 2 ioctl.
    // @solution
    const ifreq = Buffer.alloc(IFREQ_SIZE) // zeroed: the name's NUL comes free
    ifreq.write('lo', 0, IFNAMSIZ - 1, 'latin1')
    ioctl(fd, SIOCGIFFLAGS, ifreq)
    // ifr_flags is a short in the union right after the name, in the CPU's byte order (little-endian
    // on x86_64 and arm64).
    ifreq.writeUInt16LE(ifreq.readUInt16LE(IFNAMSIZ) | IFF_UP, IFNAMSIZ)
    ioctl(fd, SIOCSIFFLAGS, ifreq)
    // @end
  } finally {
    close(fd)
  }
}
