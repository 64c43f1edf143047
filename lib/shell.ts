// Command lines as a person reads and types them: quoting for a POSIX shell (the VM's ssh command, the checker's
// "ran:" lines).

/** Quotes one word for a POSIX shell; words that need no quoting stay as they are. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

export function formatCommandLine(argv: string[]): string {
  return argv.map(shellQuote).join(' ')
}
