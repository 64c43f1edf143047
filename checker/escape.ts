// The chroot-escape program (escape/chroot-escape.c), compiled statically at check time: Alpine's minirootfs
// has no compiler, and busybox's chroot applet does chdir("/") itself, so the escape has to come from outside.
// A static binary needs nothing from the container's rootfs; it runs as the only file of a tiny one.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { scratchDir } from './scratch.ts'

export const ESCAPE_SOURCE = path.join(PROJECT_ROOT, 'checker', 'escape', 'chroot-escape.c')

/** musl-gcc makes the smallest static binaries; gcc and clang need the C library's static archive (libc.a). */
const COMPILERS = ['musl-gcc', 'gcc', 'cc', 'clang']

export type EscapeBuild = { binary: string } | { problem: string; todo: string }

let build: EscapeBuild | undefined

/** Compiles the program once per checker process; says what is missing when it cannot. */
export function escapeProgram(): EscapeBuild {
  // The build lives in a scratch folder, which a session's end removes (--watch starts another session).
  if (build && 'binary' in build && !fs.existsSync(build.binary)) build = undefined
  build ??= compile()
  return build
}

function compile(): EscapeBuild {
  const tried: string[] = []
  const out = path.join(scratchDir('escape-build'), 'chroot-escape')
  const compilers = process.env.CC ? [process.env.CC, ...COMPILERS] : COMPILERS
  for (const compiler of compilers) {
    const r = spawnSync(compiler, ['-static', '-Os', '-o', out, ESCAPE_SOURCE], { encoding: 'utf8', timeout: 60_000 })
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue
    if (r.status === 0 && fs.existsSync(out)) return { binary: out }
    tried.push(`${compiler}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-2).join(' ')}`)
  }
  return tried.length
    ? {
        problem: `no compiler could build ${path.relative(PROJECT_ROOT, ESCAPE_SOURCE)} statically (${tried.join('; ')})`,
        todo: 'install the static C library: apt-get install libc6-dev (or musl-tools), then check again',
      }
    : {
        problem: `no C compiler (${COMPILERS.join(', ')}) on this machine to build ${path.relative(PROJECT_ROOT, ESCAPE_SOURCE)}`,
        todo: 'install one: apt-get install gcc libc6-dev (or musl-tools); the workshop VM has one',
      }
}
