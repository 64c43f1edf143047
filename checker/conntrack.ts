// The kernel's connection-tracking table of one network namespace, read over ctnetlink (NETLINK_NETFILTER), the
// interface `conntrack -L` uses: /proc/net/nf_conntrack is obsolete, and Debian's and Ubuntu's kernels lack it.
// Each entry is a connection as its first packet was sent (original) and as its answers come back (reply): where
// NAT rewrote an address, the two differ.
import { AF_INET } from '../lib/libc.ts'
import { NLM_F_DUMP, NetlinkSocket, align4, inNetworkNamespaceOf, readU16 } from '../lib/net/netlink.ts'

const NETLINK_NETFILTER = 12
const NFNL_SUBSYS_CTNETLINK = 1
const IPCTNL_MSG_CT_GET = 1
const CTA_TUPLE_ORIG = 1
const CTA_TUPLE_REPLY = 2
const CTA_TUPLE_IP = 1
const CTA_TUPLE_PROTO = 2
const CTA_IP_V4_SRC = 1
const CTA_IP_V4_DST = 2
const CTA_PROTO_NUM = 1
const CTA_PROTO_SRC_PORT = 2
const CTA_PROTO_DST_PORT = 3
/** Attribute types carry flags in their top bits (NLA_F_NESTED, NLA_F_NET_BYTEORDER). */
const NLA_TYPE_MASK = 0x3fff

export interface Tuple {
  src: string
  dst: string
  /** IP protocol number: 6 tcp, 17 udp, 1 icmp. */
  protocol: number
  sport?: number
  dport?: number
}

export interface Connection {
  original: Tuple
  reply: Tuple
}

/** Attributes of one level: type -> value (the last of a type wins). */
function attributes(data: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>()
  for (let at = 0; at + 4 <= data.length; ) {
    const length = readU16(data, at)
    if (length < 4 || at + length > data.length) break
    out.set(readU16(data, at + 2) & NLA_TYPE_MASK, data.subarray(at + 4, at + length))
    at += align4(length)
  }
  return out
}

function tuple(data: Buffer | undefined): Tuple | undefined {
  if (!data) return undefined
  const parts = attributes(data)
  const ip = attributes(parts.get(CTA_TUPLE_IP) ?? Buffer.alloc(0))
  const proto = attributes(parts.get(CTA_TUPLE_PROTO) ?? Buffer.alloc(0))
  const src = ip.get(CTA_IP_V4_SRC)
  const dst = ip.get(CTA_IP_V4_DST)
  if (!src || !dst) return undefined
  return {
    src: [...src].join('.'),
    dst: [...dst].join('.'),
    protocol: proto.get(CTA_PROTO_NUM)?.[0] ?? 0,
    sport: proto.get(CTA_PROTO_SRC_PORT)?.readUInt16BE(0), // ports are in network byte order
    dport: proto.get(CTA_PROTO_DST_PORT)?.readUInt16BE(0),
  }
}

/** The IPv4 connections tracked in the network namespace of process `pid`. */
export function connectionsOf(pid: number): Connection[] {
  const socket = inNetworkNamespaceOf(pid, () => new NetlinkSocket(NETLINK_NETFILTER, `the network namespace of pid ${pid}`))
  try {
    // struct nfgenmsg: family, version (NFNETLINK_V0), resource id (big-endian u16)
    const nfgenmsg = Buffer.from([AF_INET, 0, 0, 0])
    const replies = socket.request(
      (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_DUMP, 'IPCTNL_MSG_CT_GET (the conntrack table)', [nfgenmsg],
    )
    const out: Connection[] = []
    for (const message of replies) {
      const parts = attributes(message.subarray(16 + 4))
      const original = tuple(parts.get(CTA_TUPLE_ORIG))
      const reply = tuple(parts.get(CTA_TUPLE_REPLY))
      if (original && reply) out.push({ original, reply })
    }
    return out
  } finally {
    socket.close()
  }
}

/** "10.99.0.2:45525 -> 198.51.100.10:7000, answered 198.51.100.10:7000 -> 203.0.113.2:45525" */
export function describeConnection(c: Connection): string {
  const end = (address: string, port: number | undefined): string => (port === undefined ? address : `${address}:${port}`)
  return `${end(c.original.src, c.original.sport)} -> ${end(c.original.dst, c.original.dport)}, answered ${end(c.reply.src, c.reply.sport)} -> ${end(c.reply.dst, c.reply.dport)}`
}
