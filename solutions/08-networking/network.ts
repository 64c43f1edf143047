// Step 04: a network namespace. A new one has its own interfaces, routes and firewall, and
// only one interface: the loopback `lo`, which starts DOWN.
import { CLONE_NEWNET, IFF_UP, getInterfaceFlags, setInterfaceFlags, unshare } from '../../lib/libc.ts'

/** Container side: a network stack of the container's own, invisible to and from the host's. */
export function enterNetworkNamespace(): void {
  unshare(CLONE_NEWNET)
}

/** `ip link set lo up`: then the kernel gives lo 127.0.0.1/8 and ::1, and localhost answers. */
export function bringUpLoopback(): void {
  setInterfaceFlags('lo', getInterfaceFlags('lo') | IFF_UP)
}
