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
import fs from 'node:fs'
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
      case BPF_LD_W_ABS:
        text = `ld   [${ins.k}]`.padEnd(34)
        comment ??= ins.k === OFFSET_NR ? 'A = system call number' : ins.k === OFFSET_ARCH ? 'A = arch' : ins.k >= 16 ? `A = args[${Math.floor((ins.k - 16) / 8)}] (${ins.k % 8 ? 'high' : 'low'} 32 bits)` : undefined
        break
      case BPF_JMP_JEQ_K:
        text = `jeq  #${ins.k < 0x10000 ? ins.k : hex(ins.k)}`.padEnd(21) + targets
        comment ??= syscallName(ins.k, archOf)
        break
      case BPF_JMP_JGE_K: text = `jge  #${hex(ins.k)}`.padEnd(21) + targets; break
      case BPF_JMP_JSET_K: text = `jset #${hex(ins.k)}`.padEnd(21) + targets; break
      case BPF_RET_K:
        text = `ret  #${hex(ins.k)}`.padEnd(34)
        comment ??= describeVerdict(ins.k)
        break
      default: text = `code ${hex(ins.code)} #${hex(ins.k)}`.padEnd(21) + targets
    }
    return `${at}  ${text}${comment ? `  ${comment}` : ''}`.trimEnd()
  })
}

// ---- Running it, as the kernel does ----------------------------------------------------------------------
/** What a filter is asked about one call: struct seccomp_data. */
export interface SeccompData {
  nr: number
  arch: number
  instructionPointer?: bigint
  args?: readonly (number | bigint)[]
}

/**
 * Runs a classic BPF program on one call the way the kernel's seccomp does, and returns its verdict (e.g.
 * SECCOMP_RET_ERRNO | EPERM). Knows every instruction the kernel accepts in a seccomp filter, so it can judge
 * a filter read back from any process (readSeccompFilters), not only ours. Throws on what the kernel refuses.
 */
export function runFilter(instructions: readonly Instruction[], call: SeccompData): number {
  const data = Buffer.alloc(64)
  data.writeInt32LE(call.nr | 0, 0)
  data.writeUInt32LE(call.arch >>> 0, 4)
  data.writeBigUInt64LE(call.instructionPointer ?? 0n, 8)
  ;(call.args ?? []).slice(0, 6).forEach((arg, i) => data.writeBigUInt64LE(BigInt.asUintN(64, BigInt(arg)), 16 + 8 * i))
  let a = 0
  let x = 0
  const memory = new Uint32Array(16)
  for (let pc = 0; pc < instructions.length; pc++) {
    const { code, jt, jf, k } = instructions[pc]!
    const bad = (): never => { throw new Error(`instruction ${pc}: code 0x${code.toString(16)} is not allowed in a seccomp filter`) }
    const operand = code & 0x08 ? x : k >>> 0
    switch (code & 0x07) {
      case 0x00: // BPF_LD
        if (code === 0x20) { // W | ABS
          if (k % 4 !== 0 || k >= 64) bad()
          a = data.readUInt32LE(k)
        } else if (code === 0x80) a = 64 // W | LEN
        else if (code === 0x00) a = k >>> 0 // IMM
        else if (code === 0x60) a = memory[k & 15]! // MEM
        else bad()
        break
      case 0x01: // BPF_LDX
        if (code === 0x81) x = 64
        else if (code === 0x01) x = k >>> 0
        else if (code === 0x61) x = memory[k & 15]!
        else bad()
        break
      case 0x02: memory[k & 15] = a; break // BPF_ST
      case 0x03: memory[k & 15] = x; break // BPF_STX
      case 0x04: { // BPF_ALU
        const ops: Record<number, () => number> = {
          0x00: () => a + operand, 0x10: () => a - operand, 0x20: () => Math.imul(a, operand), 0x30: () => (operand === 0 ? bad() : Math.floor(a / operand)),
          0x40: () => a | operand, 0x50: () => a & operand, 0x60: () => (operand >= 32 ? 0 : a << operand), 0x70: () => (operand >= 32 ? 0 : a >>> operand),
          0x80: () => -a, 0x90: () => (operand === 0 ? bad() : a % operand), 0xa0: () => a ^ operand,
        }
        a = (ops[code & 0xf0] ?? bad)() >>> 0
        break
      }
      case 0x05: { // BPF_JMP
        const op = code & 0xf0
        if (op === 0x00) { pc += k; break } // JA
        const taken = op === 0x10 ? a === operand : op === 0x20 ? a > operand : op === 0x30 ? a >= operand : op === 0x40 ? (a & operand) !== 0 : bad()
        pc += taken ? jt : jf
        break
      }
      case 0x06: return (code & 0x18) === 0x10 ? a : k >>> 0 // BPF_RET: A or K
      case 0x07: if (code === 0x07) x = a; else if (code === 0x87) a = x; else bad(); break // TAX, TXA
    }
  }
  throw new Error('the program ran past its end without a ret (the kernel refuses such a program)')
}

/** A verdict in words: "ERRNO(EPERM)", "ALLOW", "KILL_PROCESS". */
export function describeVerdict(verdict: number): string {
  const action = (verdict & 0xffff0000) >>> 0
  if (action === SECCOMP_RET_ALLOW) return 'ALLOW'
  if (action === SECCOMP_RET_ERRNO) return `ERRNO(${errnoName(verdict & 0xffff)[0]})`
  if (action === SECCOMP_RET_KILL_PROCESS) return 'KILL_PROCESS'
  if (action === 0) return 'KILL_THREAD'
  const names: Record<number, string> = { 0x00030000: 'TRAP', 0x7fc00000: 'USER_NOTIF', 0x7ff00000: 'TRACE', 0x7ffc0000: 'LOG' }
  return names[action] ?? `0x${verdict.toString(16)}`
}

/**
 * The verdict of ALL of a process's filters for one call: the kernel runs every filter and the most
 * restrictive action wins (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > USER_NOTIF > TRACE > LOG > ALLOW).
 */
export function runFilters(filters: readonly (readonly Instruction[])[], call: SeccompData): number {
  const rank = (v: number): number => {
    const action = (v & 0xffff0000) >>> 0
    return [SECCOMP_RET_KILL_PROCESS, 0, 0x00030000, SECCOMP_RET_ERRNO, 0x7fc00000, 0x7ff00000, 0x7ffc0000, SECCOMP_RET_ALLOW].indexOf(action)
  }
  let verdict = SECCOMP_RET_ALLOW
  for (const filter of filters) {
    const v = runFilter(filter, call)
    if (rank(v) < rank(verdict)) verdict = v
  }
  return verdict
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

// ---- Reading a process's filters back from the kernel (host side: the checker) ----------------------------
const ptrace = libcFunction('long ptrace(long request, int pid, unsigned long addr, void *data)')
const waitpid = libcFunction('int waitpid(int pid, void *status, int options)')
const PTRACE_DETACH = 17
const PTRACE_SEIZE = 0x4206
const PTRACE_INTERRUPT = 0x4207
const PTRACE_SECCOMP_GET_FILTER = 0x420c
const WALL = 0x40000000
const ENOENT = 2

function readStatus(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return ''
  }
}

/**
 * The seccomp filters the kernel holds for process `pid`, newest first, as instructions: what the process
 * really runs under, whatever anyone says it installed. The process is stopped for a moment with ptrace
 * (PTRACE_SEIZE + PTRACE_INTERRUPT, then PTRACE_SECCOMP_GET_FILTER for each filter, then PTRACE_DETACH; an
 * interrupted read or sleep is restarted). Needs CAP_SYS_ADMIN and a kernel with CONFIG_CHECKPOINT_RESTORE.
 */
export function readSeccompFilters(pid: number): Instruction[][] {
  const call = (request: number, addr: unknown, data: unknown, what: string): number =>
    checkCall(Number(ptrace(request, pid, addr, data)), `ptrace(${what}, ${pid})`, 'EPERM: needs root with CAP_SYS_ADMIN; EIO/EINVAL: the kernel has no CONFIG_CHECKPOINT_RESTORE; ESRCH: the process is gone')
  const status = readStatus(pid)
  if (/^Seccomp:\s*0$/m.test(status)) return [] // no filter: nothing to stop the process for
  call(PTRACE_SEIZE, 0, null, 'PTRACE_SEIZE')
  try {
    call(PTRACE_INTERRUPT, 0, null, 'PTRACE_INTERRUPT')
    checkCall(waitpid(pid, Buffer.alloc(4), WALL), `waitpid(${pid}, __WALL)`)
    const filters: Instruction[][] = []
    for (let index = 0; index < 1024; index++) {
      const count = Number(ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, null))
      if (count === -1) {
        const errno = koffi?.errno()
        if (errno === ENOENT) break // no filter with that index: that was all
        checkCall(-1, `ptrace(PTRACE_SECCOMP_GET_FILTER, ${pid}, ${index})`, 'EINVAL: no seccomp filter at all (Seccomp: 0 in /proc/PID/status), or no CONFIG_CHECKPOINT_RESTORE')
      }
      const bytes = Buffer.alloc(count * 8)
      call(PTRACE_SECCOMP_GET_FILTER, index, bytes, `PTRACE_SECCOMP_GET_FILTER ${index}`)
      filters.push(decode(bytes))
    }
    return filters
  } finally {
    ptrace(PTRACE_DETACH, pid, 0, null)
  }
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
