// System call numbers, per architecture. A seccomp filter sees a call as a NUMBER, and the same call has a
// different number on each architecture (mount is 165 on x86_64 and 40 on aarch64), so a filter is built for
// one architecture and must check it first (lib/seccomp.ts).
//
// The numbers come from the kernel's headers: arch/x86/entry/syscalls/syscall_64.tbl (installed as
// <asm/unistd_64.h>) for x86_64, include/uapi/asm-generic/unistd.h for aarch64 (which uses the generic
// table). test/seccomp.test.ts compares this table with the headers when they are installed.
import { FriendlyError } from './errors.ts'

export type Architecture = 'x86_64' | 'aarch64'

/** name -> [x86_64, aarch64]; null where the architecture has no such call (aarch64 never had mknod or iopl). */
const NUMBERS: Record<string, readonly [number | null, number | null]> = {
  // mounting, old API and the new one (Linux 5.2+): a filter that stops mount but not fsmount stops nothing
  mount: [165, 40],
  umount2: [166, 39],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  fspick: [433, 433],
  move_mount: [429, 429],
  open_tree: [428, 428],
  mount_setattr: [442, 442],
  pivot_root: [155, 41],
  chroot: [161, 51],
  // namespaces
  unshare: [272, 97],
  setns: [308, 268],
  clone: [56, 220],
  clone3: [435, 435],
  // the kernel keyring (not namespaced)
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  // kernel modules, a new kernel, the machine itself
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  reboot: [169, 142],
  swapon: [167, 224],
  swapoff: [168, 225],
  // tracing and reading other processes, eBPF
  bpf: [321, 280],
  perf_event_open: [298, 241],
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  userfaultfd: [323, 282],
  // files by handle ("shocker", 2014: read any file of the host's filesystem)
  open_by_handle_at: [304, 265],
  name_to_handle_at: [303, 264],
  // clocks, accounting, quotas, the kernel log, I/O ports: not namespaced
  acct: [163, 89],
  quotactl: [179, 60],
  syslog: [103, 116],
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  clock_adjtime: [305, 266],
  adjtimex: [159, 171],
  iopl: [172, null],
  ioperm: [173, null],
  personality: [135, 92],
  vhangup: [153, 58],
  // device nodes
  mknod: [133, null],
  mknodat: [259, 33],
  // everyday calls (the tests use them to show that what is not denied still works)
  getpid: [39, 172],
  read: [0, 63],
  write: [1, 64],
  openat: [257, 56],
  close: [3, 57],
  exit_group: [231, 94],
  execve: [59, 221],
  prctl: [157, 167],
  seccomp: [317, 277],
}

/** The architecture this Node runs on, as the kernel names it (uname -m). */
export function nativeArchitecture(): Architecture {
  if (process.arch === 'x64') return 'x86_64'
  if (process.arch === 'arm64') return 'aarch64'
  throw new FriendlyError(`no system call table for this architecture (${process.arch})`, {
    hint: 'minicontainer knows x86_64 and aarch64 (lib/syscalls.ts)',
  })
}

/**
 * The number of system call `name` on `arch`, or undefined if that architecture has no such call (a filter
 * then has nothing to deny). Throws for a name the table does not know: a typo must not deny nothing.
 */
export function syscallNumber(name: string, arch: Architecture = nativeArchitecture()): number | undefined {
  const entry = NUMBERS[name]
  if (!entry) {
    throw new FriendlyError(`unknown system call "${name}"`, {
      hint: `lib/syscalls.ts knows: ${Object.keys(NUMBERS).sort().join(', ')}`,
    })
  }
  return entry[arch === 'x86_64' ? 0 : 1] ?? undefined
}

/** The name of a call number on `arch`, if the table has it (for disassembled filters and error messages). */
export function syscallName(nr: number, arch: Architecture = nativeArchitecture()): string | undefined {
  const index = arch === 'x86_64' ? 0 : 1
  return Object.entries(NUMBERS).find(([, numbers]) => numbers[index] === nr)?.[0]
}

/** Every name the table knows. */
export function knownSyscalls(): string[] {
  return Object.keys(NUMBERS)
}
