// An exclusive lock on a file, held while a function runs: two engines starting at once take turns (CNI's
// host-local allocator locks its directory the same way). flock(2) locks belong to the open file: the kernel
// drops them when the holder exits, even on SIGKILL, so a dead engine never leaves the lock held.
import fs from 'node:fs'
import path from 'node:path'
import { LOCK_EX, flock } from '../libc.ts'

export function withFileLock<T>(file: string, work: () => T): T {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
  try {
    flock(fd, LOCK_EX, `flock(${file}, LOCK_EX)`) // waits while another engine holds it
    return work()
  } finally {
    fs.closeSync(fd) // closing the last descriptor releases the lock
  }
}
