// The Alpine tarball the tests' rootfs was installed from (test/global-setup.ts finds or downloads it): the tests
// of the installer use the same file, whatever version this machine could get.
import { inject } from 'vitest'
import { releasePath } from '../../lib/rootfs/install.ts'

export interface TestTarball {
  file: string
  /** e.g. alpine-minirootfs-3.24.2-x86_64.tar.gz */
  name: string
  version: string
  arch: string
  /** The pinned sum (lib/rootfs/SHA512SUMS). */
  sha512: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    alpineTarball: TestTarball
  }
}

export function testTarball(): TestTarball {
  const tarball = inject('alpineTarball')
  if (!tarball) throw new Error('no test tarball: test/global-setup.ts did not run (or could not run containers here)')
  return tarball
}

/** The path a mirror serves the tarball at: /v3.24/releases/x86_64/alpine-minirootfs-3.24.2-x86_64.tar.gz */
export function mirrorPath(t: TestTarball): string {
  return '/' + releasePath(t.version, t.arch)
}
