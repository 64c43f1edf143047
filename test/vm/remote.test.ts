// The host -> VM path's pure parts; the carry-over is test/vm/carry.test.ts; the real path (vagrant up, ssh, the
// checker inside, no synced folder) is test/vm/e2e.sh.
import { afterEach, describe, expect, it } from 'vitest'
import { adviceFor, hostCanRunContainers, remoteCommand, shellQuote } from '../../lib/vm/remote.ts'

describe('host -> VM', () => {
  const saved = { ...process.env }
  afterEach(() => {
    process.env = { ...saved }
  })

  it('MINICONTAINER_FORCE_VM=1 sends everything to the VM', () => {
    process.env.MINICONTAINER_FORCE_VM = '1'
    expect(hostCanRunContainers()).toEqual({ ok: false, reason: expect.stringContaining('MINICONTAINER_FORCE_VM') })
  })

  it('quotes words for the VM shell', () => {
    expect(shellQuote('step-03')).toBe('step-03')
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`)
    expect(shellQuote('')).toBe(`''`)
  })

  it('runs npm in the synced repository as root, with the arguments intact', () => {
    // Only what this test sets: the variables remoteCommand passes through come from the caller's environment.
    for (const name of ['CI', 'NO_COLOR', 'FORCE_COLOR', 'MINICONTAINER_TIMEOUT_SCALE', 'MINICONTAINER_ALPINE_FIXTURES']) delete process.env[name]
    process.env.INIT_CWD = '/somewhere/else'
    expect(remoteCommand('check', ['step-04', '--solution', 'a b'])).toBe(
      `cd /vagrant && exec sudo npm run --silent check -- step-04 --solution 'a b'`,
    )
    process.env.CI = 'true'
    expect(remoteCommand('doctor', [])).toBe('cd /vagrant && exec sudo env CI=true npm run --silent doctor --')
  })

  it('says what to do for each VM state, in one line with the command that fixes it', () => {
    const status = (state: string | undefined, vagrant = true) => ({ vagrant, state, provider: 'virtualbox', detail: state ?? 'Vagrant is not installed (no `vagrant` on PATH)' })
    expect(adviceFor(status('running'))).toBeUndefined()
    const cases: [string | undefined, boolean, RegExp][] = [
      ['not_created', true, /does not exist yet: run `vagrant up`/],
      ['poweroff', true, /not running.*: run `vagrant up`/],
      ['shutoff', true, /not running.*: run `vagrant up`/],
      ['saved', true, /saved: run `vagrant resume`/],
      ['aborted', true, /aborted.*`vagrant up`/],
      ['no_provider', true, /no VM provider.*install VirtualBox|Apple Silicon: install VMware/],
      [undefined, false, /^Vagrant is not installed: install Vagrant/],
    ]
    for (const [state, vagrant, expected] of cases) {
      const advice = adviceFor(status(state, vagrant))
      expect(advice).toMatch(expected)
      expect(advice).not.toContain('\n')
    }
  })
})
