// lib/seccomp.ts and lib/syscalls.ts: the program is what we say it is, the kernel accepts it (and refuses a
// broken one), and in a child that installed it the denied calls fail with their errno while everything else
// works, also in the programs it execs. Calls of another ABI (i386 through int 0x80, x32) are killed.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import {
  AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, EPERM, ENOSYS, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, X32_SYSCALL_BIT,
  assembleDenyList, decode, disassemble, encode,
} from '../lib/seccomp.ts'
import { knownSyscalls, syscallName, syscallNumber } from '../lib/syscalls.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

const CHILD = path.join(PROJECT_ROOT, 'test', 'fixtures', 'privileges-child.ts')

function child(...args: string[]): Record<string, any> {
  const out = execFileSync(process.execPath, [CHILD, ...args], { encoding: 'utf8' })
  return JSON.parse(out)
}

/** `#define __NR_name N` lines of a header, when it is installed (linux-libc-dev). */
function headerNumbers(file: string): Map<string, number> | undefined {
  if (!fs.existsSync(file)) return undefined
  const out = new Map<string, number>()
  for (const m of fs.readFileSync(file, 'utf8').matchAll(/^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$/gm)) out.set(m[1]!, Number(m[2]))
  return out
}

describe('the system call table', () => {
  const headers = {
    x86_64: headerNumbers('/usr/include/x86_64-linux-gnu/asm/unistd_64.h') ?? headerNumbers('/usr/include/asm/unistd_64.h'),
    aarch64: headerNumbers('/usr/include/asm-generic/unistd.h'),
  } as const
  for (const arch of ['x86_64', 'aarch64'] as const) {
    test.skipIf(!headers[arch])(`${arch}: every number is the kernel header's`, () => {
      const header = headers[arch]!
      for (const name of knownSyscalls()) expect([name, syscallNumber(name, arch)]).toEqual([name, header.get(name)])
    })
  }

  test('a name it does not know is an error, not a silent "deny nothing"', () => {
    expect(() => syscallNumber('mout')).toThrow(/unknown system call "mout"/)
    expect(syscallNumber('mknod', 'aarch64')).toBeUndefined() // aarch64 only has mknodat
    expect(syscallName(165, 'x86_64')).toBe('mount')
    expect(syscallName(40, 'aarch64')).toBe('mount')
  })
})

describe('the assembler', () => {
  const rules = [
    { syscall: 'mount', errno: EPERM },
    { syscall: 'clone', errno: EPERM, when: { argument: 0, anyBitOf: 0x10000000 } },
    { syscall: 'clone3', errno: ENOSYS },
    { syscall: 'iopl', errno: EPERM }, // not on aarch64: left out there
  ]

  test('x86_64: the architecture first, then x32, one block per rule, ALLOW last', () => {
    const program = assembleDenyList(rules, 'x86_64')
    const ins = program.instructions
    expect(ins.slice(0, 6).map(({ code, jt, jf, k }) => [code, jt, jf, k])).toEqual([
      [0x20, 0, 0, 4], // ld [4]: arch
      [0x15, 1, 0, AUDIT_ARCH_X86_64],
      [0x06, 0, 0, SECCOMP_RET_KILL_PROCESS],
      [0x20, 0, 0, 0], // ld [0]: nr
      [0x35, 0, 1, X32_SYSCALL_BIT],
      [0x06, 0, 0, SECCOMP_RET_KILL_PROCESS],
    ])
    expect(ins.at(-1)).toMatchObject({ code: 0x06, k: SECCOMP_RET_ALLOW })
    expect(disassemble(program)).toEqual([
      '  0  ld   [4]                            A = arch',
      '  1  jeq  #0xc000003e     jt 3   jf 2    x86_64?',
      '  2  ret  #0x80000000                    KILL_PROCESS: another architecture',
      '  3  ld   [0]                            A = system call number',
      '  4  jge  #0x40000000     jt 5   jf 6    x32 ABI?',
      '  5  ret  #0x80000000                    KILL_PROCESS: x32 ABI',
      '  6  jeq  #165            jt 7   jf 8    mount',
      `  7  ret  #0x${(SECCOMP_RET_ERRNO | EPERM).toString(16)}                       ERRNO(EPERM)`,
      '  8  jeq  #56             jt 9   jf 13   clone',
      '  9  ld   [16]                           A = args[0] (low 32 bits)',
      ' 10  jset #0x10000000     jt 11  jf 12   A & 0x10000000?',
      ' 11  ret  #0x50001                       ERRNO(EPERM)',
      ' 12  ld   [0]                            A = system call number',
      ' 13  jeq  #435            jt 14  jf 15   clone3',
      ' 14  ret  #0x50026                       ERRNO(ENOSYS)',
      ' 15  jeq  #172            jt 16  jf 17   iopl',
      ' 16  ret  #0x50001                       ERRNO(EPERM)',
      ' 17  ret  #0x7fff0000                    ALLOW',
    ])
  })

  test('aarch64: its own arch value and numbers, no x32 check, no iopl', () => {
    const program = assembleDenyList(rules, 'aarch64')
    expect(program.instructions[1]!.k).toBe(AUDIT_ARCH_AARCH64)
    expect(program.instructions.some((i) => i.k === X32_SYSCALL_BIT)).toBe(false)
    expect(program.instructions.filter((i) => i.code === 0x15).map((i) => i.k)).toEqual([AUDIT_ARCH_AARCH64, 40, 220, 435])
  })

  test('encode writes struct sock_filter (8 bytes, little-endian), decode reads it back', () => {
    const program = assembleDenyList(rules, 'x86_64')
    const bytes = encode(program)
    expect(bytes.length).toBe(program.instructions.length * 8)
    expect(bytes.subarray(8, 16).toString('hex')).toBe('1500' + '01' + '00' + '3e0000c0')
    expect(decode(bytes)).toEqual(program.instructions.map(({ code, jt, jf, k }) => ({ code, jt, jf, k })))
  })

  test('a long list still has only short jumps (each rule is a block of its own)', () => {
    const many = knownSyscalls().map((syscall) => ({ syscall, errno: EPERM }))
    const program = assembleDenyList([...many, ...many, ...many], 'x86_64')
    expect(Math.max(...program.instructions.map((i) => Math.max(i.jt, i.jf)))).toBeLessThanOrEqual(4)
  })

  test('bad rules are refused with a reason', () => {
    expect(() => assembleDenyList([{ syscall: 'mount', errno: 0 }])).toThrow(/errno 0 is not an errno/)
    expect(() => assembleDenyList([{ syscall: 'clone', errno: EPERM, when: { argument: 6, anyBitOf: 1 } }])).toThrow(/argument 6/)
  })
})

describe.skipIf(skipUnlessRootOnLinux())('the kernel runs it', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-seccomp-test-'))
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

  /** The ABI helper, compiled when gcc is there (x86_64 only). */
  function abiHelper(): string | undefined {
    if (process.arch !== 'x64' || spawnSync('gcc', ['--version']).status !== 0) return undefined
    const out = path.join(tmp, 'abi')
    execFileSync('gcc', ['-static', '-O2', '-o', out, path.join(PROJECT_ROOT, 'test', 'fixtures', 'abi.c')])
    return out
  }

  test('denied calls fail with their errno, everything else works, in the process and what it execs', () => {
    const abi = abiHelper()
    const r = child('seccomp', ...(abi ? [abi] : []))
    // Before the filter: the calls ran (their own errors prove it).
    expect(r.before).toEqual({ keyctl: 'errno 126' /* ENOKEY */, unshareUser: 'EINVAL', mount: 'EFAULT' })
    expect(r.status).toEqual({ Seccomp: '2', Seccomp_filters: '1', NoNewPrivs: '1' })
    expect(r.after).toEqual({ getpid: 'ok', keyctl: 'EPERM', unshareUser: 'EPERM', unshareUts: 'ok 0', mount: 'EPERM', clone3: 'ENOSYS' })
    expect(r.child.true.status).toBe(0)
    expect(r.child.status).toBe('NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n')
    expect(r.child.unshareUser).toMatchObject({ status: 1, stderr: expect.stringMatching(/Operation not permitted/) })
    expect(r.child.unshareUts.status).toBe(0)
    if (abi) {
      expect(r.child.native).toMatchObject({ status: 0 })
      expect(r.child.foreign).toMatchObject({ signal: 'SIGSYS' }) // i386 getpid through int 0x80
      expect(r.child.x32).toMatchObject({ signal: 'SIGSYS' })
    }
  })

  test('the kernel checks the program: a jump past the end is refused (EINVAL)', () => {
    expect(child('bad-program').result).toMatch(/PR_SET_SECCOMP.*EINVAL/)
  })

  test('without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the filter (EACCES)', () => {
    expect(child('no-nnp').result).toMatch(/PR_SET_SECCOMP.*EACCES/)
  })
})
