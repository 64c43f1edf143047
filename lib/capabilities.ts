// Capabilities: root's power split into ~41 pieces (man 7 capabilities). A process holds five sets of them:
//
//   bounding     the most it (and anything it execs) can ever have    prctl(PR_CAPBSET_DROP) removes, never adds
//   permitted    what it may use (may raise into effective)           capset() can only shrink it
//   effective    what the kernel checks right now                     capset()
//   inheritable  what may pass through execve to a program whose       capset()
//                file grants the same
//   ambient      what passes through execve to any program             prctl(PR_CAP_AMBIENT)
//                (<= permitted & inheritable)
//
// execve recomputes them (for root, and for a file without file capabilities):
//   root:      permitted' = bounding | inheritable (| ambient);   effective' = permitted'
//   non-root:  permitted' = ambient;                               effective' = ambient
// So for a root container the bounding set (with inheritable) is THE limit: whatever permitted and effective
// hold before execve, root gets back everything the bounding and inheritable sets still have.
//
// The calls act on the calling THREAD. Node's other threads keep theirs, and vanish at execve.
import fs from 'node:fs'
import { checkCall, libcFunction } from './libc.ts'
import { FriendlyError } from './errors.ts'

/** Every capability of Linux 6.x, by number (linux/capability.h). The index is the bit. */
export const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
] as const
export type Capability = (typeof CAPABILITIES)[number]

/** The number of a capability: 'SYS_ADMIN' or 'CAP_SYS_ADMIN' -> 21. */
export function capabilityNumber(name: string): number {
  const index = CAPABILITIES.indexOf(name.toUpperCase().replace(/^CAP_/, '') as Capability)
  if (index === -1) throw new FriendlyError(`unknown capability "${name}"`, { hint: `man 7 capabilities; known: ${CAPABILITIES.join(', ')}` })
  return index
}

/** A set as the kernel writes it in /proc/PID/status (CapEff: 00000000a80425fb): one bit per capability. */
export function capabilityMask(names: readonly string[]): bigint {
  return names.reduce((mask, name) => mask | (1n << BigInt(capabilityNumber(name))), 0n)
}

/** The names in a mask; bits this table does not know show as their number ("cap_41"). */
export function capabilityNames(mask: bigint): string[] {
  const out: string[] = []
  for (let bit = 0; bit < 64; bit++) if (mask & (1n << BigInt(bit))) out.push(CAPABILITIES[bit] ?? `cap_${bit}`)
  return out
}

/** The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap, 40 on Linux 6.x). */
export function lastCapability(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'))
  } catch {
    return CAPABILITIES.length - 1
  }
}

/** The five sets of a process, as in /proc/PID/status (CapInh, CapPrm, CapEff, CapBnd, CapAmb). */
export interface CapabilitySets {
  inheritable: bigint
  permitted: bigint
  effective: bigint
  bounding: bigint
  ambient: bigint
}

/** Parses the Cap* lines of a /proc/PID/status text; undefined when they are missing. */
export function parseStatusCapabilities(status: string): CapabilitySets | undefined {
  const field = (name: string): bigint | undefined => {
    const hex = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1]
    return hex === undefined ? undefined : BigInt('0x' + hex)
  }
  const [inheritable, permitted, effective, bounding, ambient] = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'].map(field)
  if ([inheritable, permitted, effective, bounding, ambient].some((v) => v === undefined)) return undefined
  return { inheritable: inheritable!, permitted: permitted!, effective: effective!, bounding: bounding!, ambient: ambient! }
}

// ---- The calls ----------------------------------------------------------------------------------------
const prctl = libcFunction('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)')
const capget = libcFunction('int capget(void *header, void *data)')
const capset = libcFunction('int capset(void *header, void *data)')

const PR_CAPBSET_READ = 23
const PR_CAPBSET_DROP = 24
const PR_SET_NO_NEW_PRIVS = 38
const PR_GET_NO_NEW_PRIVS = 39
const PR_CAP_AMBIENT = 47
const PR_CAP_AMBIENT_CLEAR_ALL = 4
/** struct __user_cap_header_struct { __u32 version; int pid; }: version 3 = two 32-bit words per set. */
const LINUX_CAPABILITY_VERSION_3 = 0x20080522

function header(): Buffer {
  const h = Buffer.alloc(8)
  h.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0)
  h.writeInt32LE(0, 4) // 0 = the calling thread
  return h
}

/** Effective, permitted and inheritable of the calling thread: capget(2). */
export function readCapabilities(): Pick<CapabilitySets, 'effective' | 'permitted' | 'inheritable'> {
  // struct __user_cap_data_struct { __u32 effective, permitted, inheritable; } [2]: [0] = caps 0-31, [1] = 32-63
  const data = Buffer.alloc(24)
  checkCall(capget(header(), data), 'capget()')
  const set = (offset: number): bigint => BigInt(data.readUInt32LE(offset)) | (BigInt(data.readUInt32LE(12 + offset)) << 32n)
  return { effective: set(0), permitted: set(4), inheritable: set(8) }
}

/**
 * Sets effective, permitted and inheritable of the calling thread: capset(2). The kernel refuses (EPERM) to
 * add to permitted, an effective bit that is not permitted, or an inheritable bit outside the bounding set
 * (without CAP_SETPCAP, outside permitted).
 */
export function setCapabilities(sets: Pick<CapabilitySets, 'effective' | 'permitted' | 'inheritable'>): void {
  const data = Buffer.alloc(24)
  const low = (mask: bigint): number => Number(mask & 0xffffffffn)
  const high = (mask: bigint): number => Number((mask >> 32n) & 0xffffffffn)
  data.writeUInt32LE(low(sets.effective), 0)
  data.writeUInt32LE(low(sets.permitted), 4)
  data.writeUInt32LE(low(sets.inheritable), 8)
  data.writeUInt32LE(high(sets.effective), 12)
  data.writeUInt32LE(high(sets.permitted), 16)
  data.writeUInt32LE(high(sets.inheritable), 20)
  checkCall(capset(header(), data), `capset(effective=${describe(sets.effective)}, permitted=${describe(sets.permitted)}, inheritable=${describe(sets.inheritable)})`,
    'EPERM: a capability that is not in permitted (it can only shrink), effective beyond permitted, or inheritable beyond bounding')
}

/** Removes one capability from the bounding set for good: prctl(PR_CAPBSET_DROP). Needs CAP_SETPCAP in effective. */
export function dropFromBoundingSet(capability: number): void {
  checkCall(prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), `prctl(PR_CAPBSET_DROP, CAP_${CAPABILITIES[capability] ?? capability})`,
    'EPERM: CAP_SETPCAP is not in the effective set (drop from the bounding set before shrinking effective). EINVAL: no such capability on this kernel (see lastCapability()).')
}

/** Whether a capability is still in the bounding set: prctl(PR_CAPBSET_READ). */
export function inBoundingSet(capability: number): boolean {
  return checkCall(prctl(PR_CAPBSET_READ, capability, 0, 0, 0), `prctl(PR_CAPBSET_READ, ${capability})`) === 1
}

/** Empties the ambient set: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL). */
export function clearAmbientCapabilities(): void {
  checkCall(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), 'prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)', 'EINVAL: the kernel is older than 4.3')
}

/**
 * no_new_privs: from now on execve never grants anything (set-user-ID bits and file capabilities are
 * ignored), for this process and every descendant, for good. Also what lets a process without
 * CAP_SYS_ADMIN install a seccomp filter: prctl(PR_SET_NO_NEW_PRIVS, 1).
 */
export function setNoNewPrivileges(): void {
  checkCall(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 'prctl(PR_SET_NO_NEW_PRIVS, 1)')
}

export function hasNoNewPrivileges(): boolean {
  return checkCall(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 'prctl(PR_GET_NO_NEW_PRIVS)') === 1
}

function describe(mask: bigint): string {
  return mask === 0n ? '{}' : `0x${mask.toString(16)}`
}
