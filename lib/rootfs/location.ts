// Where the Alpine rootfs lives on this machine, and how the engine finds a usable one.
// It lives on the machine's own disk ($MINICONTAINER_HOME), never in the project folder: in the VM that is a
// shared folder where ownership and device nodes do not work.
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError } from '../errors.ts'

/** Written last into a finished install: a directory without it is never taken for a rootfs. */
export const MARKER = '.minicontainer-rootfs.json'

export interface InstalledRootfs {
  /** The real directory (symlinks resolved), e.g. /var/lib/minicontainer/rootfs/alpine-3.24.2-x86_64. */
  dir: string
  version: string
  arch: string
  sha512: string
}

export function minicontainerHome(): string {
  return process.env.MINICONTAINER_HOME || '/var/lib/minicontainer'
}

/** Holds one folder per installed rootfs plus the `current` symlink. */
export function rootfsRoot(): string {
  return path.join(minicontainerHome(), 'rootfs')
}

/** The install in `dir` if its marker says it is complete, else undefined. */
export function readInstalled(dir: string): InstalledRootfs | undefined {
  try {
    const real = fs.realpathSync(dir)
    const marker = JSON.parse(fs.readFileSync(path.join(real, MARKER), 'utf8'))
    const { version, arch, sha512 } = marker
    if ([version, arch, sha512].every((v) => typeof v === 'string' && v)) return { dir: real, version, arch, sha512 }
  } catch {
    // missing, half-written or not ours: not installed
  }
  return undefined
}

/** The rootfs `$MINICONTAINER_HOME/rootfs/current` points at, if it is a complete install. */
export function currentRootfs(): InstalledRootfs | undefined {
  return readInstalled(path.join(rootfsRoot(), 'current'))
}

const INSTALL_HINT = 'install it with: npm run rootfs  (offline: npm run rootfs -- --from FILE)'

/**
 * The rootfs directory to run containers in: `dir` if given (any unpacked root filesystem with a bin/sh will
 * do), else the installed one. Throws a FriendlyError saying what is missing and how to get it.
 */
export function requireRootfs(dir?: string): string {
  if (dir !== undefined) {
    const full = path.resolve(dir)
    const stat = fs.statSync(full, { throwIfNoEntry: false })
    if (!stat) {
      throw new FriendlyError(`rootfs ${full} does not exist`, {
        hint: 'give an unpacked root filesystem, or leave out --rootfs to use the installed Alpine one',
      })
    }
    if (!stat.isDirectory()) {
      throw new FriendlyError(`rootfs ${full} is not a directory`, {
        hint: '--rootfs wants an unpacked root filesystem (a folder); to install a tarball: npm run rootfs -- --from FILE',
      })
    }
    // lstat: Alpine's bin/sh is an absolute symlink (/bin/busybox), meaningful only inside the container.
    if (!fs.lstatSync(path.join(full, 'bin/sh'), { throwIfNoEntry: false })) {
      throw new FriendlyError(`rootfs ${full} has no bin/sh, so it is not a usable root filesystem`, {
        hint: `use an unpacked Alpine minirootfs, or leave out --rootfs to use the installed one (${INSTALL_HINT})`,
      })
    }
    return full
  }
  const current = currentRootfs()
  if (current) return current.dir
  const where = path.join(rootfsRoot(), 'current')
  const home = process.env.MINICONTAINER_HOME
  const sameHome = home ? ` (with the same MINICONTAINER_HOME=${home})` : ''
  throw new FriendlyError(`no Alpine rootfs installed (nothing complete at ${where})`, { hint: INSTALL_HINT + sameHome })
}
