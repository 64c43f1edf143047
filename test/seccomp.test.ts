// lib/seccomp.ts and lib/syscalls.ts: the program is what we say it is, the kernel accepts it (and refuses a
// broken one), and in a child that installed it the denied calls fail with their errno while everything else
// works, also in the programs it execs. Calls of another ABI (i386 through int 0x80, x32) are killed.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { spawn } from 'node:child_process'
import {
  AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, EPERM, ENOSYS, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, X32_SYSCALL_BIT,
  assembleDenyList, decode, describeVerdict, disassemble, encode, readSeccompFilters, runFilter, runFilters, type Instruction,
} from '../lib/seccomp.ts'
import { knownSyscalls, syscallName, syscallNumber } from '../lib/syscalls.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { TEST_RULES } from './fixtures/privileges-child-rules.ts'
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

  test('runFilter: the verdicts of the program, as the kernel would run it', () => {
    const x86 = assembleDenyList(rules, 'x86_64').instructions
    const arm = assembleDenyList(rules, 'aarch64').instructions
    const verdict = (program: Instruction[], nr: number, arch: number, args: number[] = []) => describeVerdict(runFilter(program, { nr, arch, args }))
    expect(verdict(x86, 165, AUDIT_ARCH_X86_64)).toBe('ERRNO(EPERM)') // mount
    expect(verdict(x86, 39, AUDIT_ARCH_X86_64)).toBe('ALLOW') // getpid
    expect(verdict(x86, 56, AUDIT_ARCH_X86_64, [0x10000000 | 17])).toBe('ERRNO(EPERM)') // clone(CLONE_NEWUSER | SIGCHLD)
    expect(verdict(x86, 56, AUDIT_ARCH_X86_64, [17])).toBe('ALLOW') // clone(SIGCHLD): fork
    expect(verdict(x86, 435, AUDIT_ARCH_X86_64)).toBe('ERRNO(ENOSYS)')
    expect(verdict(x86, 0x40000000 | 39, AUDIT_ARCH_X86_64)).toBe('KILL_PROCESS') // x32
    expect(verdict(x86, 165, AUDIT_ARCH_AARCH64)).toBe('KILL_PROCESS') // another architecture
    expect(verdict(arm, 40, AUDIT_ARCH_AARCH64)).toBe('ERRNO(EPERM)') // mount on aarch64
    expect(verdict(arm, 165, AUDIT_ARCH_AARCH64)).toBe('ALLOW') // 165 is getrusage there
    // Several filters: the most restrictive verdict wins.
    const allowAll: Instruction[] = [{ code: 0x06, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW }]
    const killAll: Instruction[] = [{ code: 0x06, jt: 0, jf: 0, k: SECCOMP_RET_KILL_PROCESS }]
    expect(describeVerdict(runFilters([allowAll, x86], { nr: 165, arch: AUDIT_ARCH_X86_64 }))).toBe('ERRNO(EPERM)')
    expect(describeVerdict(runFilters([x86, killAll], { nr: 39, arch: AUDIT_ARCH_X86_64 }))).toBe('KILL_PROCESS')
    // What the kernel refuses, refused here too.
    expect(() => runFilter([{ code: 0x20, jt: 0, jf: 0, k: 6 }, ...allowAll], { nr: 0, arch: 0 })).toThrow(/not allowed/)
    expect(() => runFilter([{ code: 0x20, jt: 0, jf: 0, k: 0 }], { nr: 0, arch: 0 })).toThrow(/past its end/)
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

  test('readSeccompFilters reads the filter back from the kernel (ptrace), and the process goes on', async () => {
    const proc = spawn(process.execPath, [CHILD, 'seccomp-wait'], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    proc.stdout.on('data', (chunk) => (out += chunk))
    try {
      while (!out.includes('installed\n')) await new Promise((resolve) => setTimeout(resolve, 10))
      const filters = readSeccompFilters(proc.pid!)
      expect(filters).toEqual([decode(encode(assembleDenyList(TEST_RULES)))])
      expect(readSeccompFilters(process.pid)).toEqual([]) // this test process has none
    } finally {
      proc.stdin.end('\n')
    }
    await new Promise((resolve) => proc.once('exit', resolve))
    expect(JSON.parse(out.split('\n')[1]!).after).toBe('EPERM') // stopped and let go, it carried on under its filter
  })

  test('the kernel checks the program: a jump past the end is refused (EINVAL)', () => {
    expect(child('bad-program').result).toMatch(/PR_SET_SECCOMP.*EINVAL/)
  })

  test('without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the filter (EACCES)', () => {
    expect(child('no-nnp').result).toMatch(/PR_SET_SECCOMP.*EACCES/)
  })
})
