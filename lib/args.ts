// Command lines, the same way for every command (the engine, the checker, the learner's commands, bench, derive):
// node:util's parseArgs, strict, so that a misspelled flag (`--onlyx`) is a one-line error and not silently ignored,
// and a flag's value may follow it (`--only 03.oom`) or be attached (`--only=03.oom`).
import { parseArgs } from 'node:util'
import { FriendlyError } from './errors.ts'

/** A person typed something the command does not understand: one line, the usage as the hint, exit 2. */
export class UsageError extends FriendlyError {
  constructor(message: string, usage?: string) {
    super(message, { hint: usage?.split('\n')[0], exitCode: 2 })
    this.name = 'UsageError'
  }
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>

export interface Parsed<O extends OptionSpec> {
  values: { [K in keyof O]?: O[K]['type'] extends 'string' ? (O[K]['multiple'] extends true ? string[] : string) : boolean }
  positionals: string[]
  /** With `untilCommand`: the command and its own arguments (everything from the first positional on, or after `--`). */
  command: string[]
  /** With `untilCommand`: the options were ended by `--` (so the command's first word is no image, step 09). */
  separated: boolean
}

/** parseArgs' messages, in the words of the rest of the project. */
function explain(error: unknown): string {
  const e = error as NodeJS.ErrnoException
  const message = String(e.message ?? error)
  const option = /'(-{1,2}[^' ]+)/.exec(message)?.[1]
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? message}`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(message) ? `${option} needs a value` : `${option}: ${message.split('. ')[0]}`
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? message}`
    default:
      return message.split('\n')[0]!
  }
}

/**
 * Parses `args` against `options`. With `untilCommand`, the options end at the first word that is not one (or at
 * `--`): the rest is the command to run and its own arguments, as with `docker run IMAGE ls -la`.
 */
export function parseCommandLine<O extends OptionSpec>(
  args: string[],
  options: O,
  config: { usage?: string; positionals?: boolean; untilCommand?: boolean } = {},
): Parsed<O> {
  let head = args
  let command: string[] = []
  let separated = false
  if (config.untilCommand) {
    let i = 0
    while (i < args.length) {
      const arg = args[i]!
      if (arg === '--' || !arg.startsWith('-') || arg === '-') break
      const long = arg.startsWith('--')
      const name = long ? arg.slice(2).split('=')[0]! : Object.keys(options).find((k) => options[k]!.short === arg.slice(1, 2))
      // A string option takes the next word as its value, unless it is attached (--x=v, -xv).
      const takesValue = name !== undefined && options[name]?.type === 'string' && (long ? !arg.includes('=') : arg.length === 2)
      i += takesValue ? 2 : 1
    }
    head = args.slice(0, i)
    separated = args[i] === '--'
    command = args.slice(separated ? i + 1 : i)
  }
  try {
    const parsed = parseArgs({ args: head, options, strict: true, allowPositionals: config.positionals ?? false })
    return { values: parsed.values as Parsed<O>['values'], positionals: parsed.positionals, command, separated }
  } catch (error) {
    throw new UsageError(explain(error), config.usage)
  }
}
