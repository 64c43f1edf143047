// seccomp: a small program the kernel runs on EVERY system call of a process, before the call, to decide
// whether it runs. The program is classic BPF (the language of tcpdump's filters): a few instructions over
// one register A, reading `struct seccomp_data` (the call's number, the architecture, the arguments) and
// returning a verdict. This module assembles such a program from a deny-list and installs it (man 2 seccomp).
//
//   struct seccomp_data {            offset     struct sock_filter {   8 bytes per instruction
//     int   nr;                      0            __u16 code;          what to do (ld, jeq, ret...)
//     __u32 arch;                    4            __u8  jt, jf;        jump forward if true / if false
//     __u64 instruction_pointer;     8            __u32 k;             the constant
//     __u64 args[6];                 16 + 8*i   };
//   };
//
// The program built here, for x86_64 (`disassemble()` prints it like this):
//
//   ld [4]                       A = arch
//   jeq #AUDIT_ARCH_X86_64 ─no─► ret KILL_PROCESS   another architecture: its numbers mean other calls
//   ld [0]                       A = nr
//   jge #0x40000000 ──yes──────► ret KILL_PROCESS   x32 ABI: same arch value, numbers with bit 30 set
//   jeq #165 (mount) ──yes─────► ret ERRNO | EPERM  one pair per denied call
//   jeq #272 (unshare) ─yes────► ret ERRNO | EPERM
//   ...
//   ret ALLOW                    everything else runs
import { checkCall, libcFunction } from './libc.ts'
import { FriendlyError, errnoName } from './errors.ts'
import { nativeArchitecture, syscallName, syscallNumber, type Architecture } from './syscalls.ts'

// ---- The kernel's constants (linux/filter.h, linux/bpf_common.h, linux/seccomp.h, linux/audit.h) -------
const BPF_LD_W_ABS = 0x00 | 0x00 | 0x20 // BPF_LD | BPF_W | BPF_ABS: A = 32 bits of seccomp_data at offset k
const BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00 // BPF_JMP | BPF_JEQ | BPF_K: A == k ?
const BPF_JMP_JGE_K = 0x05 | 0x30 | 0x00 // BPF_JMP | BPF_JGE | BPF_K: A >= k ?
const BPF_JMP_JSET_K = 0x05 | 0x40 | 0x00 // BPF_JMP | BPF_JSET | BPF_K: A & k != 0 ?
const BPF_RET_K = 0x06 | 0x00 // BPF_RET | BPF_K: return k

export const SECCOMP_RET_KILL_PROCESS = 0x80000000
export const SECCOMP_RET_ERRNO = 0x00050000 // | errno in the low 16 bits: the call fails with that errno
export const SECCOMP_RET_ALLOW = 0x7fff0000

export const AUDIT_ARCH_X86_64 = 0xc000003e // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
export const AUDIT_ARCH_AARCH64 = 0xc00000b7 // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
/** On x86_64, calls of the x32 ABI carry the same arch value and their number has this bit set. */
export const X32_SYSCALL_BIT = 0x40000000

const OFFSET_NR = 0
const OFFSET_ARCH = 4
/** The low 32 bits of args[i] (both architectures are little-endian). */
const offsetOfArgument = (index: number): number => 16 + 8 * index

const PR_SET_SECCOMP = 22
const SECCOMP_MODE_FILTER = 2
/** BPF_MAXINSNS: the kernel refuses longer programs. */
const MAX_INSTRUCTIONS = 4096

export const AUDIT_ARCH: Record<Architecture, number> = { x86_64: AUDIT_ARCH_X86_64, aarch64: AUDIT_ARCH_AARCH64 }

// ---- Rules and instructions ------------------------------------------------------------------------------
/** One denied call: it fails with `errno` instead of running. */
export interface DenyRule {
  /** The call's name (lib/syscalls.ts), e.g. 'mount'. */
  syscall: string
  /** What the call returns instead, e.g. EPERM (1) or ENOSYS (38). */
  errno: number
  /**
   * Deny only when argument `index` (its low 32 bits) has at least one of the bits of `anyBitOf` set, e.g.
   * clone() with any CLONE_NEW* flag; without it the call is denied whatever its arguments.
   */
  when?: { argument: number; anyBitOf: number }
}

/** One struct sock_filter. */
export interface Instruction {
  code: number
  jt: number
  jf: number
  k: number
  /** What it means, for people: printed by disassemble(). */
  comment?: string
}

export interface SeccompProgram {
  arch: Architecture
  instructions: Instruction[]
}

const load = (offset: number, comment: string): Instruction => ({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offset, comment })
const jump = (code: number, k: number, jt: number, jf: number, comment?: string): Instruction => ({ code, jt, jf, k: k >>> 0, comment })
const ret = (k: number, comment: string): Instruction => ({ code: BPF_RET_K, jt: 0, jf: 0, k: k >>> 0, comment })

/**
 * Assembles a deny-list filter for `arch`: the architecture is checked first (a call of another ABI is
 * killed: its numbers mean other calls), then each denied call returns its errno, and every other call is
 * allowed. Each rule is a self-contained block with short forward jumps, so the list can be any length.
 */
export function assembleDenyList(rules: readonly DenyRule[], arch: Architecture = nativeArchitecture()): SeccompProgram {
  const kill = (why: string): Instruction => ret(SECCOMP_RET_KILL_PROCESS, `KILL_PROCESS: ${why}`)
  const instructions: Instruction[] = [
    load(OFFSET_ARCH, 'A = arch'),
    jump(BPF_JMP_JEQ_K, AUDIT_ARCH[arch], 1, 0, `${arch}?`),
    kill('another architecture'),
    load(OFFSET_NR, 'A = system call number'),
  ]
  if (arch === 'x86_64') instructions.push(jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1, 'x32 ABI?'), kill('x32 ABI'))
  for (const rule of rules) {
    if (!Number.isInteger(rule.errno) || rule.errno < 1 || rule.errno > 4095) {
      throw new FriendlyError(`seccomp rule for ${rule.syscall}: errno ${rule.errno} is not an errno number (1..4095)`, { hint: 'use the constants of lib/seccomp.ts (EPERM, ENOSYS)' })
    }
    const nr = syscallNumber(rule.syscall, arch)
    if (nr === undefined) continue // this architecture has no such call: nothing to deny
    const verdict = ret(SECCOMP_RET_ERRNO | rule.errno, `ERRNO(${errnoName(rule.errno)[0]})`)
    if (!rule.when) {
      instructions.push(jump(BPF_JMP_JEQ_K, nr, 0, 1, rule.syscall), verdict)
      continue
    }
    const { argument, anyBitOf } = rule.when
    if (!Number.isInteger(argument) || argument < 0 || argument > 5) throw new FriendlyError(`seccomp rule for ${rule.syscall}: argument ${argument} does not exist (0..5)`)
    instructions.push(
      jump(BPF_JMP_JEQ_K, nr, 0, 4, rule.syscall), // not this call: skip the whole block (A still holds nr)
      load(offsetOfArgument(argument), `A = args[${argument}] (low 32 bits)`),
      jump(BPF_JMP_JSET_K, anyBitOf, 0, 1, `A & 0x${(anyBitOf >>> 0).toString(16)}?`),
      verdict,
      load(OFFSET_NR, 'A = system call number'), // the next rules compare the number again
    )
  }
  instructions.push(ret(SECCOMP_RET_ALLOW, 'ALLOW'))
  if (instructions.length > MAX_INSTRUCTIONS) throw new FriendlyError(`the seccomp program has ${instructions.length} instructions; the kernel takes at most ${MAX_INSTRUCTIONS}`)
  return { arch, instructions }
}

/** The program as the kernel reads it: an array of struct sock_filter, 8 bytes each. */
export function encode(program: SeccompProgram): Buffer {
  const bytes = Buffer.alloc(program.instructions.length * 8)
  program.instructions.forEach((ins, i) => {
    bytes.writeUInt16LE(ins.code, i * 8)
    bytes.writeUInt8(ins.jt, i * 8 + 2)
    bytes.writeUInt8(ins.jf, i * 8 + 3)
    bytes.writeUInt32LE(ins.k >>> 0, i * 8 + 4)
  })
  return bytes
}

/** Reads struct sock_filter bytes back into instructions (no comments). */
export function decode(bytes: Buffer): Instruction[] {
  const out: Instruction[] = []
  for (let at = 0; at + 8 <= bytes.length; at += 8) {
    out.push({ code: bytes.readUInt16LE(at), jt: bytes.readUInt8(at + 2), jf: bytes.readUInt8(at + 3), k: bytes.readUInt32LE(at + 4) })
  }
  return out
}

/**
 * The program as text, one instruction a line with absolute jump targets, like `seccomp-tools dump`:
 *   `  6  jeq  #165        jt 7   jf 8    mount`
 */
export function disassemble(program: SeccompProgram | Instruction[], arch: Architecture = nativeArchitecture()): string[] {
  const instructions = Array.isArray(program) ? program : program.instructions
  const archOf = Array.isArray(program) ? arch : program.arch
  const hex = (k: number): string => `0x${(k >>> 0).toString(16)}`
  return instructions.map((ins, i) => {
    const at = String(i).padStart(3)
    const targets = `jt ${i + 1 + ins.jt}`.padEnd(7) + `jf ${i + 1 + ins.jf}`.padEnd(6)
    let text: string
    let comment = ins.comment
    switch (ins.code) {
      case BPF_LD_W_ABS: text = `ld   [${ins.k}]`.padEnd(34); break
      case BPF_JMP_JEQ_K:
        text = `jeq  #${ins.k < 0x10000 ? ins.k : hex(ins.k)}`.padEnd(21) + targets
        comment ??= syscallName(ins.k, archOf)
        break
      case BPF_JMP_JGE_K: text = `jge  #${hex(ins.k)}`.padEnd(21) + targets; break
      case BPF_JMP_JSET_K: text = `jset #${hex(ins.k)}`.padEnd(21) + targets; break
      case BPF_RET_K: text = `ret  #${hex(ins.k)}`.padEnd(34); break
      default: text = `code ${hex(ins.code)} #${hex(ins.k)}`.padEnd(21) + targets
    }
    return `${at}  ${text}${comment ? `  ${comment}` : ''}`.trimEnd()
  })
}

// ---- Installing it ---------------------------------------------------------------------------------------
const prctlWithPointer = libcFunction('int prctl(int option, unsigned long arg2, void *arg3, unsigned long arg4, unsigned long arg5)')

/**
 * Installs the filter on the calling thread (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog)). It
 * stays for good: inherited by every child, kept across execve, never removed. The kernel accepts it only
 * from a process with no_new_privs set (lib/capabilities.ts) or CAP_SYS_ADMIN, and checks the program first
 * (EINVAL for a bad one). Install it last: from here on the denied calls fail for this process too.
 */
export function installSeccompFilter(program: SeccompProgram): void {
  const filter = encode(program)
  // struct sock_fprog { unsigned short len; /* 6 bytes of padding */ struct sock_filter *filter; }
  const fprog = Buffer.alloc(16)
  fprog.writeUInt16LE(program.instructions.length, 0)
  fprog.writeBigUInt64LE(filterAddress(filter), 8)
  checkCall(prctlWithPointer(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0), 'prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)',
    'EACCES: set no_new_privs first (or have CAP_SYS_ADMIN). EINVAL: the kernel refused the program (a jump out of range, a bad instruction) or has no seccomp filters (CONFIG_SECCOMP_FILTER).')
  filter.fill(0) // the kernel copied it; `filter` was kept alive until here
}

const koffi = await import('koffi').then((m) => m.default, () => undefined)

/** The memory address of a Buffer's bytes, to put into struct sock_fprog. */
function filterAddress(buffer: Buffer): bigint {
  if (!koffi) throw new FriendlyError('koffi is not available: cannot install a seccomp filter', { hint: 'run `npm ci` (koffi ships its native code in optional dependencies)' })
  return koffi.address(buffer)
}

// errno values a deny-list uses (asm-generic/errno-base.h, errno.h; the same on x86_64 and aarch64).
export const EPERM = 1
export const ENOSYS = 38
