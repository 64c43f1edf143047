// The thin layer between the engine and the kernel: libc functions called through koffi, and
// one `check()` that turns a failed call into a readable error with its errno name
// ("mount(proc, /proc): EPERM (Operation not permitted)").
//
// Every call here is synchronous on Node's main thread, on purpose: namespaces and the root
// directory belong to the calling thread, and async work runs on other threads that are still
// in the host's namespaces (see CONTRIBUTING.md).
import fs from 'node:fs'
import os from 'node:os'
import { FriendlyError, SyscallError } from './errors.ts'

// ---- Constants from the kernel's headers (linux/sched.h, linux/mount.h, ...) -----------------
export const CLONE_NEWNS = 0x00020000 // mount namespace
export const CLONE_NEWCGROUP = 0x02000000
export const CLONE_NEWUTS = 0x04000000 // hostname and domain name
export const CLONE_NEWIPC = 0x08000000 // System V IPC, POSIX message queues
export const CLONE_NEWUSER = 0x10000000
export const CLONE_NEWPID = 0x20000000
export const CLONE_NEWNET = 0x40000000

export const MS_RDONLY = 1
export const MS_NOSUID = 2
export const MS_NODEV = 4
export const MS_NOEXEC = 8
export const MS_BIND = 4096
export const MS_REC = 16384
export const MS_PRIVATE = 1 << 18
export const MS_SLAVE = 1 << 19
export const MS_REMOUNT = 32
export const MNT_DETACH = 2

export const PR_SET_PDEATHSIG = 1
export const F_SETFD = 2
export const SIGKILL = 9

export const AF_INET = 2
export const SOCK_DGRAM = 2
export const SIOCGIFFLAGS = 0x8913 // get an interface's flags into a struct ifreq (man 7 netdevice)
export const SIOCSIFFLAGS = 0x8914 // set an interface's flags from a struct ifreq
export const IFF_UP = 0x1 // linux/if.h: interface flags
export const IFF_LOOPBACK = 0x8
export const IFF_RUNNING = 0x40
/** linux/if.h: the size of an interface name field, its terminating NUL included. */
export const IFNAMSIZ = 16
/** sizeof(struct ifreq) on 64-bit Linux: the name, then a union of 24 bytes (its largest member is struct ifmap). */
export const IFREQ_SIZE = 40

// ---- Loading libc --------------------------------------------------------------------------
type Koffi = typeof import('koffi').default

function bindLibc(koffi: Koffi) {
  let libc: ReturnType<Koffi['load']>
  try {
    libc = koffi.load('libc.so.6') // glibc (Debian, Ubuntu: the workshop VM)
  } catch {
    libc = koffi.load(null as unknown as string) // musl (Alpine as a host): symbols of the process itself
  }
  return {
    errno: () => koffi.errno(),
    unshare: libc.func('int unshare(int flags)'),
    mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: libc.func('int umount2(const char *target, int flags)'),
    sethostname: libc.func('int sethostname(const char *name, size_t len)'),
    chroot: libc.func('int chroot(const char *path)'),
    chdir: libc.func('int chdir(const char *path)'),
    prctl: libc.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)'),
    fcntl: libc.func('int fcntl(int fd, int cmd, int arg)'),
    execve: libc.func('int execve(const char *path, const char **argv, const char **envp)'),
    signal: libc.func('void *signal(int sig, void *handler)'),
    socket: libc.func('int socket(int domain, int type, int protocol)'),
    ioctl: libc.func('int ioctl(int fd, unsigned long request, void *arg)'),
    close: libc.func('int close(int fd)'),
    closeRange: libc.func('int close_range(unsigned int first, unsigned int last, int flags)'),
    /** For lib modules with calls of their own (lib/capabilities.ts, lib/seccomp.ts): binds one more function. */
    bind: (prototype: string) => libc.func(prototype),
    // glibc has no pivot_root() wrapper: the raw system call, by number.
    syscall: libc.func('long syscall(long number, ...)'),
    // Files the image store makes: overlayfs whiteouts (a 0/0 character device) and opaque folders (an xattr).
    mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: libc.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
    send: libc.func('long send(int fd, const void *buf, size_t len, int flags)'),
    recv: libc.func('long recv(int fd, void *buf, size_t len, int flags)'),
    setns: libc.func('int setns(int fd, int nstype)'),
    flock: libc.func('int flock(int fd, int operation)'),
    setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    bindSocket: libc.func('int bind(int fd, const void *addr, uint32_t len)'),
    // Step 09: the image's User. glibc's wrappers change every thread of the process (Node has several).
    setgroups: libc.func('int setgroups(size_t size, const uint32_t *list)'),
    setgid: libc.func('int setgid(uint32_t gid)'),
    setuid: libc.func('int setuid(uint32_t uid)'),
  }
}
type Libc = ReturnType<typeof bindLibc>

/**
 * Where libc cannot be bound (macOS, Windows, a koffi without its native part), importing must
 * not crash before the engine can say what is wrong: every call then throws the explanation.
 */
function unavailable(message: string, hint: string): Libc {
  return new Proxy({} as Libc, {
    get: (_, name) => name === 'then' ? undefined : () => { // not a promise: `await` must not call it
      throw new FriendlyError(`${String(name)}(): ${message}`, { hint })
    },
  })
}

async function loadLibc(): Promise<Libc> {
  if (os.platform() !== 'linux') {
    return unavailable(`needs the Linux kernel, and this is ${os.platform()}`, 'work inside the workshop VM: see vagrant/README.md')
  }
  try {
    return bindLibc((await import('koffi')).default)
  } catch (error) {
    return unavailable(`koffi could not load libc: ${(error as Error).message}`,
      'run `npm ci` (koffi ships its native code in optional dependencies: do not install with --omit=optional)')
  }
}

const c = await loadLibc()

/**
 * Throws a SyscallError when a libc call returned -1. koffi.errno() is per thread and is
 * overwritten by the next call, so it is read right here, immediately after the call.
 */
function check(result: number, call: string, hint?: string): number {
  if (result === -1) throw new SyscallError(call, c.errno(), hint)
  return result
}

/**
 * One more libc function for a lib module that owns its concept (lib/capabilities.ts, lib/seccomp.ts), bound
 * on first use; its result goes through `checkCall`. Pointers are passed as Buffers (`void *` in the prototype).
 */
export function libcFunction(prototype: string): (...args: unknown[]) => number {
  let bound: ((...args: unknown[]) => number) | undefined
  return (...args) => (bound ??= c.bind(prototype) as (...args: unknown[]) => number)(...args)
}

/** `check` for lib modules: throws a SyscallError with the errno name when a call returned -1. */
export const checkCall = (result: number, call: string, hint?: string): number => check(result, call, hint)

/** Hints for the errno values a learner meets most, by call. */
const NEED_ROOT = 'run as root (sudo), inside the workshop VM if your laptop is not Linux'

// ---- The calls the engine uses ---------------------------------------------------------------
export function unshare(flags: number): void {
  check(c.unshare(flags), `unshare(${describeCloneFlags(flags)})`,
    'EPERM: not root (or root without CAP_SYS_ADMIN, e.g. inside another container). EINVAL: an unknown flag, or CLONE_NEWUSER in a multi-threaded process (Node always is). ' + NEED_ROOT)
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  const overlay = fstype === 'overlay'
    ? ' For overlay the kernel log says what it refused (`dmesg | tail`): upper and work on different filesystems, an upper layer on overlayfs or NFS, a bad option string; ENOENT: a layer folder is missing.'
    : ''
  check(c.mount(source, target, fstype, flags, data), `mount(${source ?? 'NULL'}, ${target}, ${fstype ?? 'NULL'}, ${describeMountFlags(flags)})`,
    'ENOENT: the target does not exist. EINVAL: a bad flag combination, or the target is not a mount point. EPERM: not root.' + overlay)
}

export function umount2(target: string, flags: number): void {
  refuseInTheHostsMountNamespace(`umount2(${target})`)
  check(c.umount2(target, flags), `umount2(${target}, ${flags & MNT_DETACH ? 'MNT_DETACH' : flags})`,
    'EINVAL: not a mount point (or a locked one). EBUSY: still in use: MNT_DETACH detaches it now and frees it when the last user is gone.')
}

/** pivot_root's number on each architecture (asm/unistd.h): glibc has no wrapper for it. */
const SYS_PIVOT_ROOT: Partial<Record<string, number>> = { x64: 155, arm64: 41 }

/**
 * pivot_root(2): makes `newRoot` the root mount of this mount namespace and moves the old root mount to
 * `putOld` (which may be `newRoot` itself: then the old root is stacked on top of the new one).
 */
export function pivotRoot(newRoot: string, putOld: string): void {
  const call = `pivot_root(${newRoot}, ${putOld})`
  const number = SYS_PIVOT_ROOT[process.arch]
  if (number === undefined) throw new FriendlyError(`${call}: no system call number known for ${process.arch}`, { hint: 'add it to SYS_PIVOT_ROOT in lib/libc.ts (see asm/unistd.h)' })
  refuseInTheHostsMountNamespace(call)
  check(c.syscall(number, 'str', newRoot, 'str', putOld), call,
    'EBUSY: new_root (or put_old) is on the current root mount: a plain folder, not a mount point of its own (bind-mount it onto itself). ' +
    'EINVAL: a shared mount in the way (make the mounts private first), put_old not at or under new_root, new_root not a mount point, ' +
    'or the current root not a mount point (an earlier chroot). See man 2 pivot_root.')
}

// The mount namespace this process started in: the host's, for the engine and for init before it unshares.
const startMountNamespace = readLinkOrUndefined('/proc/self/ns/mnt')

/**
 * pivot_root and unmounting the old root are meant for the container's own mount namespace. Run in the
 * host's, pivot_root would move the root of EVERY process on the machine, and unmounting "/" would take
 * the host's whole tree away from them: refuse, and say what is missing.
 */
function refuseInTheHostsMountNamespace(call: string): void {
  if (startMountNamespace === undefined || readLinkOrUndefined('/proc/self/ns/mnt') !== startMountNamespace) return
  throw new FriendlyError(`${call}: refused in the mount namespace the engine started in (the host's)`, {
    hint: 'here it would change the root of every process on the machine: unshare(CLONE_NEWNS) first (step 01, enterNamespaces)',
  })
}

function readLinkOrUndefined(file: string): string | undefined {
  try {
    return fs.readlinkSync(file)
  } catch {
    return undefined
  }
}

export function sethostname(name: string): void {
  check(c.sethostname(name, Buffer.byteLength(name)), `sethostname(${JSON.stringify(name)})`,
    'EINVAL: longer than 64 bytes. EPERM: not root.')
}

export function chroot(path: string): void {
  check(c.chroot(path), `chroot(${path})`, 'ENOENT: the rootfs folder does not exist: install it with `npm run rootfs`.')
}

export function chdir(path: string): void {
  check(c.chdir(path), `chdir(${path})`)
}

/**
 * Orphaned descendants of this process are reparented to it instead of to the host's init, so a
 * process that escaped a container (or an engine) can still be found below us (the checker uses it).
 */
export function becomeChildSubreaper(): void {
  const PR_SET_CHILD_SUBREAPER = 36
  check(c.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 'prctl(PR_SET_CHILD_SUBREAPER)')
}

/** Asks the kernel to send `signal` to this process when its parent dies. */
export function setParentDeathSignal(signal: number): void {
  check(c.prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0), 'prctl(PR_SET_PDEATHSIG)')
}

/**
 * Node marks its own stdin/stdout/stderr close-on-exec. A program started by execve() would
 * find them closed (EBADF on write): clear the flag first.
 */
export function keepOpenAcrossExec(fd: number): void {
  check(c.fcntl(fd, F_SETFD, 0), `fcntl(${fd}, F_SETFD, 0)`)
}

/**
 * Marks every file descriptor from `first` on close-on-exec, so the command inherits none of
 * the engine's (or the engine's caller's) open files: close_range(first, ~0, CLOSE_RANGE_CLOEXEC).
 */
export function closeOnExecFrom(first: number): void {
  const CLOSE_RANGE_CLOEXEC = 4
  check(c.closeRange(first, 0xffffffff, CLOSE_RANGE_CLOEXEC), `close_range(${first}, ~0, CLOSE_RANGE_CLOEXEC)`, 'needs Linux >= 5.11')
}

/**
 * Node ignores SIGPIPE and SIGXFSZ; an ignored signal stays ignored across execve, and a
 * command that finds SIGPIPE ignored misbehaves (`yes | head` never ends). Give each back its default.
 */
export function restoreDefaultSignals(signals: number[]): void {
  for (const signal of signals) c.signal(signal, null)
}

/** Replaces this process by `path`. Returns only on failure, as a SyscallError. */
export function execve(path: string, argv: string[], env: string[]): SyscallError {
  c.execve(path, [...argv, null], [...env, null])
  return new SyscallError(`execve(${path})`, c.errno())
}

/**
 * A socket (man 2 socket); the network-interface ioctls need one, of any kind: AF_INET + SOCK_DGRAM is usual.
 * `what` names it in errors when the defaults do not ("socket(AF_NETLINK, NETLINK_ROUTE)", step 08's lib/net).
 */
export function socket(domain: number, type: number, protocol = 0, what?: string): number {
  return check(c.socket(domain, type, protocol), what ?? `socket(${domain === AF_INET ? 'AF_INET' : domain}, ${type === SOCK_DGRAM ? 'SOCK_DGRAM' : type})`)
}

export function close(fd: number): void {
  check(c.close(fd), `close(${fd})`)
}

const IOCTL_NAMES = new Map([[SIOCGIFFLAGS, 'SIOCGIFFLAGS'], [SIOCSIFFLAGS, 'SIOCSIFFLAGS']])

/**
 * ioctl(2) on a socket with a struct ifreq (man 7 netdevice): the kernel reads the interface's name from the
 * buffer, then reads or writes the rest of it. The buffer must be a whole struct ifreq: the kernel copies
 * IFREQ_SIZE bytes in and out, whatever the buffer's length in JavaScript (a shorter one would be overrun).
 */
export function ioctl(fd: number, request: number, ifreq: Buffer): void {
  const name = IOCTL_NAMES.get(request) ?? `0x${request.toString(16)}`
  if (ifreq.length < IFREQ_SIZE) {
    throw new FriendlyError(`ioctl(${name}): the buffer has ${ifreq.length} bytes, a struct ifreq has ${IFREQ_SIZE}`, {
      hint: 'the kernel copies a whole struct ifreq out of it and back into it: allocate IFREQ_SIZE bytes (man 7 netdevice)',
    })
  }
  const nul = ifreq.indexOf(0)
  const ifrName = ifreq.toString('latin1', 0, nul === -1 || nul > IFNAMSIZ ? IFNAMSIZ : nul)
  check(c.ioctl(fd, request, ifreq), `ioctl(${name}, ifr_name ${JSON.stringify(ifrName)})`,
    'ENODEV: no interface of that name in this network namespace (is the name in the first IFNAMSIZ bytes, ended by a NUL?). EPERM: not root in this network namespace.')
}

// ---- Device nodes and extended attributes (the image store's overlayfs whiteouts) ---------------------------
export const S_IFCHR = 0o020000

/** makedev(major, minor) as glibc encodes a dev_t (both 0 for a whiteout). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major)
  const mi = BigInt(minor)
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn)
}

/** Creates a device node (or FIFO, socket, file) at `path`: mknod(2). `mode` holds the type (S_IFCHR...) and the permissions. */
export function mknod(path: string, mode: number, dev: bigint): void {
  check(c.mknod(path, mode, dev), `mknod(${path}, 0${mode.toString(8)}, ${dev})`,
    'EEXIST: something is already there (remove it first). EPERM: not root, or the filesystem refuses device nodes.')
}

/** Sets an extended attribute on `path` itself (not on what a symlink points at): lsetxattr(2). */
export function setxattr(path: string, name: string, value: string): void {
  const bytes = Buffer.from(value)
  check(c.lsetxattr(path, name, bytes, bytes.length, 0), `lsetxattr(${path}, ${name})`,
    'EPERM: trusted.* attributes need root (CAP_SYS_ADMIN). ENOTSUP: this filesystem has no extended attributes (overlayfs needs ext4, xfs, btrfs or tmpfs underneath).')
}

/** An extended attribute of `path` itself as text, or undefined when it has none of that name (ENODATA). */
export function getxattr(path: string, name: string): string | undefined {
  const value = Buffer.alloc(4096)
  const length = Number(c.lgetxattr(path, name, value, value.length))
  if (length === -1) {
    const errno = c.errno()
    if (errno === 61) return undefined // ENODATA
    throw new SyscallError(`lgetxattr(${path}, ${name})`, errno)
  }
  return value.subarray(0, length).toString()
}

// ---- Step 08 (networking): sockets, namespaces by file descriptor, file locks (lib/net/ and the test network) --
export const AF_NETLINK = 16
export const SOCK_RAW = 3
export const SOCK_CLOEXEC = 0o2000000
export const SOCK_STREAM = 1
export const NETLINK_ROUTE = 0
export const LOCK_EX = 2
export const LOCK_UN = 8

/** setsockopt(2) with an int value. */
export function setSocketOption(fd: number, level: number, name: number, value: number, what: string): void {
  const data = Buffer.alloc(4)
  data.writeInt32LE(value)
  check(c.setsockopt(fd, level, name, data, 4), what)
}

/** bind(2) an AF_INET socket to an IPv4 address and port (a struct sockaddr_in: family, port and address in network order). */
export function bindIPv4(fd: number, address: string, port: number): void {
  const sockaddr = Buffer.alloc(16)
  sockaddr.writeUInt16LE(AF_INET, 0)
  sockaddr.writeUInt16BE(port, 2)
  address.split('.').forEach((byte, i) => sockaddr.writeUInt8(Number(byte), 4 + i))
  check(c.bindSocket(fd, sockaddr, sockaddr.length), `bind(${address}:${port})`, 'EADDRINUSE: something listens there already. EADDRNOTAVAIL: no interface of this network namespace has that address.')
}

/** send(2) the whole buffer (a datagram socket: one message, sent whole or not at all). */
export function send(fd: number, data: Buffer, what: string): void {
  check(Number(c.send(fd, data, data.length, 0)), what)
}

/** recv(2) into `buffer`; returns the number of bytes received (a blocking call). */
export function recv(fd: number, buffer: Buffer, what: string): number {
  return check(Number(c.recv(fd, buffer, buffer.length, 0)), what)
}

/**
 * setns(2): moves the calling THREAD (Node's main thread) into the namespace `fd` refers to
 * (an open /proc/PID/ns/TYPE). Sockets made meanwhile stay in that namespace for good.
 */
export function setns(fd: number, nstype: number, what: string): void {
  check(c.setns(fd, nstype), what, 'EINVAL: not a namespace of that type, or a user/mount namespace in a multi-threaded process. EPERM: not root.')
}

/** flock(2): LOCK_EX waits until no other process holds the lock; it ends with the fd (or the process). */
export function flock(fd: number, operation: number, what: string): void {
  check(c.flock(fd, operation), what)
}

// ---- Step 09: the image's user ----------------------------------------------------------------
/** The supplementary groups: setgroups(2). Needs CAP_SETGID, so before setgid/setuid give up root. */
export function setgroups(groups: number[]): void {
  check(c.setgroups(groups.length, new Uint32Array(groups)), `setgroups([${groups.join(', ')}])`, 'EPERM: only root (CAP_SETGID) may set groups: call it before setuid.')
}

export function setgid(gid: number): void {
  check(c.setgid(gid), `setgid(${gid})`, 'EPERM: only root (CAP_SETGID) may take another group: call it before setuid.')
}

export function setuid(uid: number): void {
  check(c.setuid(uid), `setuid(${uid})`, 'EPERM: only root (CAP_SETUID) may become another user.')
}

// ---- Readable flag names, for error messages ---------------------------------------------------
const CLONE_FLAG_NAMES: [number, string][] = [
  [CLONE_NEWNS, 'CLONE_NEWNS'], [CLONE_NEWCGROUP, 'CLONE_NEWCGROUP'], [CLONE_NEWUTS, 'CLONE_NEWUTS'],
  [CLONE_NEWIPC, 'CLONE_NEWIPC'], [CLONE_NEWUSER, 'CLONE_NEWUSER'], [CLONE_NEWPID, 'CLONE_NEWPID'],
  [CLONE_NEWNET, 'CLONE_NEWNET'],
]
const MOUNT_FLAG_NAMES: [number, string][] = [
  [MS_RDONLY, 'MS_RDONLY'], [MS_NOSUID, 'MS_NOSUID'], [MS_NODEV, 'MS_NODEV'], [MS_NOEXEC, 'MS_NOEXEC'],
  [MS_REMOUNT, 'MS_REMOUNT'], [MS_BIND, 'MS_BIND'], [MS_REC, 'MS_REC'], [MS_PRIVATE, 'MS_PRIVATE'], [MS_SLAVE, 'MS_SLAVE'],
]

function describeFlags(flags: number, names: [number, string][]): string {
  const known = names.filter(([bit]) => (flags & bit) !== 0)
  const rest = known.reduce((left, [bit]) => left & ~bit, flags)
  const parts = known.map(([, name]) => name)
  if (rest !== 0) parts.push(`0x${(rest >>> 0).toString(16)}`)
  return parts.length ? parts.join('|') : '0'
}
export const describeCloneFlags = (flags: number): string => describeFlags(flags, CLONE_FLAG_NAMES)
export const describeMountFlags = (flags: number): string => describeFlags(flags, MOUNT_FLAG_NAMES)
