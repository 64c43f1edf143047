// Whether a process id is in use: the owner of a `.staging-PID-*` leftover, a lock file or a pin may have died.
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0) // signal 0: only the existence and permission checks
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' // exists, but not ours to signal
  }
}
