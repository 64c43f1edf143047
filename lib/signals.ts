// The signal masks of a process, from /proc/PID/status: one parser for the host side (does init catch SIGTERM?)
// and the container side (which signals did Node leave ignored, to give back before exec).
import fs from 'node:fs'

/**
 * The signals of one mask of /proc/PID/status: SigIgn (ignored), SigCgt (caught by a handler).
 * undefined when the process is gone.
 */
export function signalsIn(pid: number | 'self', mask: 'SigIgn' | 'SigCgt'): number[] | undefined {
  let status: string
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const bits = BigInt('0x' + (new RegExp(`^${mask}:\\s*([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'))
  return Array.from({ length: 64 }, (_, i) => i + 1).filter((signal) => bits & (1n << BigInt(signal - 1)))
}
