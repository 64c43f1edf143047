// Step 05: open file descriptors. A descriptor is a way into a file or folder that does not go
// through the root directory: one the command inherits from the engine (or from whoever started the
// engine) that points at a host folder is a door out of the container (runc's CVE-2024-21626).
import { CLOSE_RANGE_CLOEXEC, closeRange } from '../../lib/libc.ts'

/**
 * Container side, last thing before the command starts: it must inherit stdin, stdout and stderr
 * and nothing else.
 */
export function closeInheritedDescriptors(): void {
  closeRange(3, 0xffffffff, CLOSE_RANGE_CLOEXEC)
}
