// rtnetlink: the kernel's own interface for links, addresses and routes. `ip` from iproute2 is a client
// of it (strace -e sendmsg ip link add ... shows the same messages); so is this module.
//
// A request is one datagram on an AF_NETLINK socket: a 16-byte header (nlmsghdr), a fixed struct for the
// object (ifinfomsg for a link, ifaddrmsg for an address, rtmsg for a route), then attributes: (length,
// type, value) triples padded to 4 bytes, which may nest. With NLM_F_ACK the kernel answers every request
// with an NLMSG_ERROR message whose error field is 0 (done) or -errno (refused, maybe with a text saying
// why: the "extended ack").
//
// A netlink socket acts on the network namespace it was CREATED in, wherever it is used afterwards:
// RouteSocket.inNamespaceOf(pid) makes one inside a container's namespace from the host side.
import fs from 'node:fs'
import os from 'node:os'
import { SyscallError, errnoName } from '../errors.ts'
import {
  AF_INET, AF_NETLINK, CLONE_NEWNET, IFF_UP, NETLINK_ROUTE, SOCK_CLOEXEC, SOCK_RAW, close, recv, send, setSocketOption, setns, socket,
} from '../libc.ts'

// ---- Constants from linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/veth.h ---------------------
const NLMSG_ERROR = 2
const NLMSG_DONE = 3
const NLM_F_REQUEST = 0x1
const NLM_F_ACK = 0x4
const NLM_F_REPLACE = 0x100
const NLM_F_EXCL = 0x200
const NLM_F_CREATE = 0x400
const NLM_F_CAPPED = 0x100 // in an ack: the request is not copied back
const NLM_F_ACK_TLVS = 0x200 // in an ack: attributes (the kernel's error text) follow
const SOL_NETLINK = 270
const NETLINK_CAP_ACK = 10
const NETLINK_EXT_ACK = 11
const NLMSGERR_ATTR_MSG = 1

export const RTM_NEWLINK = 16
export const RTM_DELLINK = 17
export const RTM_GETLINK = 18
export const RTM_NEWADDR = 20
export const RTM_NEWROUTE = 24

const IFLA_ADDRESS = 1
const IFLA_IFNAME = 3
const IFLA_MASTER = 10
const IFLA_LINKINFO = 18
const IFLA_NET_NS_PID = 19
const IFLA_INFO_KIND = 1
const IFLA_INFO_DATA = 2
const VETH_INFO_PEER = 1
const IFA_ADDRESS = 1
const IFA_LOCAL = 2
const RTA_GATEWAY = 5
const RT_TABLE_MAIN = 254
const RTPROT_BOOT = 3
const RT_SCOPE_UNIVERSE = 0
const RTN_UNICAST = 1

/** Netlink integers are in the machine's own byte order (little-endian on x86_64 and aarch64). */
const LE = os.endianness() === 'LE'
function u16(value: number): Buffer {
  const b = Buffer.alloc(2)
  if (LE) b.writeUInt16LE(value)
  else b.writeUInt16BE(value)
  return b
}
function u32(value: number): Buffer {
  const b = Buffer.alloc(4)
  if (LE) b.writeUInt32LE(value >>> 0)
  else b.writeUInt32BE(value >>> 0)
  return b
}
function readU16(b: Buffer, at: number): number {
  return LE ? b.readUInt16LE(at) : b.readUInt16BE(at)
}
function readU32(b: Buffer, at: number): number {
  return LE ? b.readUInt32LE(at) : b.readUInt32BE(at)
}
function readI32(b: Buffer, at: number): number {
  return LE ? b.readInt32LE(at) : b.readInt32BE(at)
}
const align4 = (n: number): number => (n + 3) & ~3
export { align4, readU16, readU32, u16, u32 }
export const NLM_F_DUMP = 0x300

/** One attribute: struct rtattr { u16 len; u16 type; } + value, padded to 4 bytes. */
function attr(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(align4(4 + value.length))
  Buffer.concat([u16(4 + value.length), u16(type), value]).copy(out)
  return out
}
const stringAttr = (type: number, text: string): Buffer => attr(type, Buffer.from(text + '\0'))
const u32Attr = (type: number, value: number): Buffer => attr(type, u32(value))
const nested = (type: number, ...children: Buffer[]): Buffer => attr(type, Buffer.concat(children))

/** struct ifinfomsg: family, pad, type, index, flags, change (16 bytes). */
function ifinfomsg(index = 0, flags = 0, change = 0): Buffer {
  return Buffer.concat([Buffer.from([0, 0]), u16(0), u32(index), u32(flags), u32(change)])
}

/** "10.99.0.5" -> its 4 bytes, in network order (as the kernel keeps addresses). */
export function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`)
  }
  return Buffer.from(parts)
}

/** "02:6d:0a:63:00:05" -> 6 bytes. */
export function macBytes(mac: string): Buffer {
  const parts = mac.split(':').map((p) => parseInt(p, 16))
  if (parts.length !== 6 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not a MAC address: ${JSON.stringify(mac)}`)
  }
  return Buffer.from(parts)
}

const HINTS: Record<string, string> = {
  EEXIST: 'it exists already (a leftover of an earlier run? `ip link`, `ip addr`, `ip route` show what is there)',
  ENODEV: 'no interface of that name in this network namespace (a typo? moved to another namespace already?)',
  ESRCH: 'no process with that PID: the container may have exited',
  EPERM: 'needs root (CAP_NET_ADMIN in this network namespace)',
  EOPNOTSUPP: 'the kernel has no driver for this kind of link (modprobe veth / modprobe bridge)',
  ENETUNREACH: 'the gateway is not in the subnet of any address of this interface: add the address and bring the link up first',
  EINVAL: 'the kernel refused a value in the request (a bad prefix length? a MAC that is not unicast?)',
  ERANGE: 'an interface name is at most 15 bytes',
  EBUSY: 'the interface is busy (renaming an interface that is up?)',
}

export interface LinkOptions {
  /** Bring the link up (IFF_UP). */
  up?: boolean
  /** Plug the link into this bridge (IFLA_MASTER). */
  master?: string
  /** Move the link into the network namespace of this process (IFLA_NET_NS_PID). */
  netnsPid?: number
  /** A new name (with netnsPid: its name in the new namespace). */
  name?: string
  /** A MAC address, "02:..:..:..:..:.." (IFLA_ADDRESS). */
  mac?: string
}

/**
 * Runs `make` with the calling THREAD in the network namespace of process `pid` (setns), and comes straight back,
 * before anything else can run on this thread: sockets made by `make` stay in that namespace for good.
 */
export function inNetworkNamespaceOf<T>(pid: number, make: () => T): T {
  const own = fs.openSync('/proc/thread-self/ns/net', 'r')
  let target: number
  try {
    target = fs.openSync(`/proc/${pid}/ns/net`, 'r')
  } catch (error) {
    fs.closeSync(own)
    throw new SyscallError(`open(/proc/${pid}/ns/net)`, (error as NodeJS.ErrnoException).errno ?? 2, 'the process is gone (the container exited?)')
  }
  try {
    setns(target, CLONE_NEWNET, `setns(/proc/${pid}/ns/net, CLONE_NEWNET)`)
    try {
      return make()
    } finally {
      setns(own, CLONE_NEWNET, 'setns(back to this process\'s own network namespace)')
    }
  } finally {
    fs.closeSync(target)
    fs.closeSync(own)
  }
}

/** A netlink socket of one protocol, in the network namespace it was made in: one request at a time. */
export class NetlinkSocket {
  readonly #fd: number
  #seq = 0
  #closed = false
  protected readonly where: string

  constructor(protocol: number, where = 'this network namespace') {
    this.#fd = openNetlinkSocket(protocol)
    this.where = where
  }

  close(): void {
    if (!this.#closed) close(this.#fd)
    this.#closed = true
  }

  /**
   * Sends one request (nlmsghdr + body) and collects the kernel's answers up to its ack or, for a dump, up to
   * NLMSG_DONE; throws the ack's errno as a SyscallError, with the kernel's own words when it gave any.
   */
  request(type: number, flags: number, what: string, body: Buffer[]): Buffer[] {
    if (this.#closed) throw new Error(`${what}: the netlink socket is closed`)
    const seq = ++this.#seq
    const payload = Buffer.concat(body)
    const header = Buffer.concat([u32(16 + payload.length), u16(type), u16(NLM_F_REQUEST | NLM_F_ACK | flags), u32(seq), u32(0)])
    send(this.#fd, Buffer.concat([header, payload]), `send(netlink ${what})`)
    const replies: Buffer[] = []
    const buffer = Buffer.alloc(64 * 1024)
    for (;;) {
      const length = recv(this.#fd, buffer, `recv(netlink ${what})`)
      for (let at = 0; at + 16 <= length; ) {
        const size = readU32(buffer, at)
        if (size < 16 || at + size > length) break
        const message = Buffer.from(buffer.subarray(at, at + size))
        at += align4(size)
        if (readU32(message, 8) !== seq) continue
        const kind = readU16(message, 4)
        if (kind === NLMSG_DONE) return replies
        if (kind !== NLMSG_ERROR) {
          replies.push(message)
          continue
        }
        const error = readI32(message, 16)
        if (error === 0) return replies
        const text = extendedAck(message)
        throw new SyscallError(`netlink ${what} in ${this.where}${text ? ` (kernel: "${text}")` : ''}`, -error, HINTS[errnoName(-error)[0]])
      }
    }
  }
}

/** A NETLINK_ROUTE socket: requests on links, addresses and routes of ONE network namespace. */
export class RouteSocket extends NetlinkSocket {
  /** A socket in the caller's own network namespace (the host's, for the engine). */
  constructor(where = 'this network namespace') {
    super(NETLINK_ROUTE, where)
  }

  /**
   * A socket inside the network namespace of process `pid`, made from the outside: the calling thread
   * enters that namespace (setns), creates the socket, and comes straight back. The socket stays there:
   * everything sent on it acts inside the container.
   */
  static inNamespaceOf(pid: number): RouteSocket {
    return inNetworkNamespaceOf(pid, () => new RouteSocket(`the network namespace of pid ${pid}`))
  }

  /** `ip link add NAME type bridge [address MAC]` */
  createBridge(name: string, mac?: string): void {
    this.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, `RTM_NEWLINK ${name} type bridge`, [
      ifinfomsg(),
      stringAttr(IFLA_IFNAME, name),
      ...(mac ? [attr(IFLA_ADDRESS, macBytes(mac))] : []),
      nested(IFLA_LINKINFO, stringAttr(IFLA_INFO_KIND, 'bridge')),
    ])
  }

  /**
   * `ip link add NAME type veth peer name PEER [address MAC]`: two interfaces joined like the two ends of
   * a cable; a frame sent into one comes out of the other.
   */
  createVethPair(name: string, peer: string, options: { peerMac?: string } = {}): void {
    const peerInfo = Buffer.concat([
      ifinfomsg(), stringAttr(IFLA_IFNAME, peer), ...(options.peerMac ? [attr(IFLA_ADDRESS, macBytes(options.peerMac))] : []),
    ])
    this.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, `RTM_NEWLINK ${name} type veth peer ${peer}`, [
      ifinfomsg(),
      stringAttr(IFLA_IFNAME, name),
      nested(IFLA_LINKINFO, stringAttr(IFLA_INFO_KIND, 'veth'), nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peerInfo))),
    ])
  }

  /**
   * `ip link set NAME [up] [master BRIDGE] [netns PID] [name NEW] [address MAC]`: one RTM_NEWLINK on the
   * existing link. Moving and renaming in one message renames it in its new namespace.
   */
  setLink(name: string, options: LinkOptions): void {
    const index = this.linkIndex(name)
    if (index === undefined) {
      throw new SyscallError(`RTM_NEWLINK ${name}: find the interface in ${this.where}`, 19 /* ENODEV */, HINTS.ENODEV)
    }
    const attrs: Buffer[] = []
    if (options.master !== undefined) {
      const master = this.linkIndex(options.master)
      if (master === undefined) throw new SyscallError(`RTM_NEWLINK ${name} master ${options.master}: find the bridge in ${this.where}`, 19, 'create the bridge first')
      attrs.push(u32Attr(IFLA_MASTER, master))
    }
    if (options.netnsPid !== undefined) attrs.push(u32Attr(IFLA_NET_NS_PID, options.netnsPid))
    if (options.name !== undefined) attrs.push(stringAttr(IFLA_IFNAME, options.name))
    if (options.mac !== undefined) attrs.push(attr(IFLA_ADDRESS, macBytes(options.mac)))
    const words = Object.entries(options).map(([key, value]) =>
      (key === 'up' ? (value ? 'up' : 'down') : `${key === 'netnsPid' ? 'netns' : key} ${value}`))
    this.request(RTM_NEWLINK, 0, `RTM_NEWLINK ${name} ${words.join(' ')}`, [
      ifinfomsg(index, options.up ? IFF_UP : 0, options.up === undefined ? 0 : IFF_UP),
      ...attrs,
    ])
  }

  /** `ip link del NAME`; false when there is no such link. Deleting one end of a veth pair deletes both. */
  deleteLink(name: string): boolean {
    try {
      this.request(RTM_DELLINK, 0, `RTM_DELLINK ${name}`, [ifinfomsg(), stringAttr(IFLA_IFNAME, name)])
      return true
    } catch (error) {
      if (error instanceof SyscallError && error.code === 'ENODEV') return false
      throw error
    }
  }

  /** The interface index of `name` in this socket's namespace (RTM_GETLINK), or undefined. */
  linkIndex(name: string): number | undefined {
    let replies: Buffer[]
    try {
      replies = this.request(RTM_GETLINK, 0, `RTM_GETLINK ${name}`, [ifinfomsg(), stringAttr(IFLA_IFNAME, name)])
    } catch (error) {
      if (error instanceof SyscallError && error.code === 'ENODEV') return undefined
      throw error
    }
    const reply = replies.find((m) => readU16(m, 4) === RTM_NEWLINK)
    return reply ? readI32(reply, 16 + 4) : undefined
  }

  /** `ip addr add ADDRESS/PREFIX dev NAME` (replace: true = do not fail if it is there already). */
  addAddress(name: string, address: string, prefixLength: number, options: { replace?: boolean } = {}): void {
    const index = this.linkIndex(name)
    if (index === undefined) throw new SyscallError(`RTM_NEWADDR ${address}/${prefixLength} dev ${name}: find the interface in ${this.where}`, 19, HINTS.ENODEV)
    // struct ifaddrmsg: family, prefixlen, flags, scope, index
    const ifaddrmsg = Buffer.concat([Buffer.from([AF_INET, prefixLength, 0, RT_SCOPE_UNIVERSE]), u32(index)])
    this.request(
      RTM_NEWADDR, NLM_F_CREATE | (options.replace ? NLM_F_REPLACE : NLM_F_EXCL), `RTM_NEWADDR ${address}/${prefixLength} dev ${name}`,
      [ifaddrmsg, attr(IFA_LOCAL, ipv4Bytes(address)), attr(IFA_ADDRESS, ipv4Bytes(address))],
    )
  }

  /** `ip route add default via GATEWAY`: where packets go that no more precise route claims. */
  addDefaultRoute(gateway: string): void {
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
    const rtmsg = Buffer.concat([Buffer.from([AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST]), u32(0)])
    this.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, `RTM_NEWROUTE default via ${gateway}`, [
      rtmsg,
      attr(RTA_GATEWAY, ipv4Bytes(gateway)),
    ])
  }
}

/** The kernel's own words about a refused request (NLMSGERR_ATTR_MSG), when it gave any. */
function extendedAck(message: Buffer): string | undefined {
  const flags = readU16(message, 6)
  if (!(flags & NLM_F_ACK_TLVS)) return undefined
  // nlmsghdr, int error, then the request's header (only the header: NETLINK_CAP_ACK), then attributes.
  let at = 16 + 4 + (flags & NLM_F_CAPPED ? 16 : readU32(message, 20))
  while (at + 4 <= message.length) {
    const length = readU16(message, at)
    const type = readU16(message, at + 2)
    if (length < 4) break
    if (type === NLMSGERR_ATTR_MSG) return message.subarray(at + 4, at + length).toString('utf8').replace(/\0.*$/s, '')
    at += align4(length)
  }
  return undefined
}

function openNetlinkSocket(protocol: number): number {
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol, `socket(AF_NETLINK, SOCK_RAW, ${protocol === NETLINK_ROUTE ? 'NETLINK_ROUTE' : protocol})`)
  try {
    // Short acks (no copy of our request) with the kernel's error text when it has one.
    setSocketOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, 'setsockopt(NETLINK_CAP_ACK)')
    setSocketOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, 'setsockopt(NETLINK_EXT_ACK)')
  } catch (error) {
    close(fd)
    throw error
  }
  return fd
}
