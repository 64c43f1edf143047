// @file-since 05-pivot-root
// Step 05: open file descriptors. A descriptor is a way into a file or folder that does not go
// through the root directory: one the command inherits from the engine (or from whoever started the
// engine) that points at a host folder is a door out of the container (runc's CVE-2024-21626).
import { CLOSE_RANGE_CLOEXEC, closeRange } from '../../lib/libc.ts'

/**
 * Container side, last thing before the command starts: it must inherit stdin, stdout and stderr
 * and nothing else.
 */
export function closeInheritedDescriptors(): void {
  // @todo 05-pivot-root
  // TODO(05.4): Make sure no descriptor but 0, 1 and 2 survives into the command, whatever this
  //   process holds: Node's own (its event loop's), and any the engine's caller leaked to it. Why:
  //   one inherited descriptor of a host folder is all it takes to walk out (/proc/self/fd/N/..).
  //   Mind that Node still runs until execve: close too early and it may trip over its own
  //   descriptors. Lesson: "5. Leaked descriptors". See man 2 close_range, man 2 execve.
  // @solution
  closeRange(3, 0xffffffff, CLOSE_RANGE_CLOEXEC)
  // @end
}
