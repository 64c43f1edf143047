// Step 04: a network namespace. A new one has its own interfaces, routes and firewall, and starts
// with the loopback `lo`, DOWN (plus, on hosts that loaded tunnel modules, their fallback tunnel
// devices such as sit0 or tunl0, also down and without addresses).
import {
  AF_INET, CLONE_NEWNET, IFF_UP, IFNAMSIZ, IFREQ_SIZE, SIOCGIFFLAGS, SIOCSIFFLAGS, SOCK_DGRAM, close, ioctl, socket, unshare,
} from '../../lib/libc.ts'

/** Container side: a network stack of the container's own, invisible to and from the host's. */
export function enterNetworkNamespace(): void {
  unshare(CLONE_NEWNET)
}

/** `ip link set lo up`: then the kernel gives lo 127.0.0.1/8 and ::1, and localhost answers. */
export function bringUpLoopback(): void {
  // Any socket will do: the interface ioctls act on the network namespace the socket was made in,
  // which is the container's here (this runs after enterNetworkNamespace()).
  const fd = socket(AF_INET, SOCK_DGRAM)
  try {
    const ifreq = Buffer.alloc(IFREQ_SIZE) // zeroed: the name's NUL comes free
    ifreq.write('lo', 0, IFNAMSIZ - 1, 'latin1')
    ioctl(fd, SIOCGIFFLAGS, ifreq)
    // ifr_flags is a short in the union right after the name, in the CPU's byte order (little-endian
    // on x86_64 and arm64).
    ifreq.writeUInt16LE(ifreq.readUInt16LE(IFNAMSIZ) | IFF_UP, IFNAMSIZ)
    ioctl(fd, SIOCSIFFLAGS, ifreq)
  } finally {
    close(fd)
  }
}
