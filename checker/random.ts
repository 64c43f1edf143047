// Random inputs, so that no engine can pass by hard-coding the expected answers (hostnames, file names, limits).
import { randomBytes } from 'node:crypto'

/** A random integer in [min, max]. */
export function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1))
}

/** A random lowercase token: `mc-` + 10 characters, a valid hostname and file name. */
export function randomToken(prefix = 'mc'): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  let out = ''
  for (const b of randomBytes(10)) out += alphabet[b % alphabet.length]
  return `${prefix}-${out}`
}
