// Step 04: a network namespace. A new one has its own interfaces, routes and firewall, and
// only one interface: the loopback `lo`, which starts DOWN.
import { CLONE_NEWNET, IFF_UP, getInterfaceFlags, setInterfaceFlags, unshare } from '../../lib/libc.ts'

/** Container side: a network stack of the container's own, invisible to and from the host's. */
export function enterNetworkNamespace(): void {
  // TODO(04.1): Move init into a new network namespace: unshare(CLONE_NEWNET).
  //   Lesson: "1. A network namespace".
}

/** `ip link set lo up`: then the kernel gives lo 127.0.0.1/8 and ::1, and localhost answers. */
export function bringUpLoopback(): void {
  // TODO(04.2): Bring the loopback interface up: read its flags with getInterfaceFlags('lo'),
  //   add IFF_UP with |, and write them back with setInterfaceFlags('lo', flags).
  //   Lesson: "2. Bringing lo up".
}
