// lib/capabilities.ts, in a child process (dropping is for good): the kept set survives execve in every set
// as the kernel reports it, MKNOD is gone for real, and the inheritable set is a way back for root when only
// the bounding set is dropped (why the engine clears it).
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { CAPABILITIES, capabilityMask, capabilityNames, capabilityNumber, parseStatusCapabilities } from '../lib/capabilities.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

const CHILD = path.join(PROJECT_ROOT, 'test', 'fixtures', 'privileges-child.ts')
/** docker's default set (moby oci/caps/defaults.go) without MKNOD. */
const KEEP = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE']

describe('capability names and masks', () => {
  test('the numbers of linux/capability.h', () => {
    expect(CAPABILITIES.length).toBe(41)
    expect(capabilityNumber('CAP_SYS_ADMIN')).toBe(21)
    expect(capabilityNumber('mknod')).toBe(27)
    expect(capabilityNumber('CHECKPOINT_RESTORE')).toBe(40)
    expect(() => capabilityNumber('SYS_ADMN')).toThrow(/unknown capability/)
  })

  test("docker's default set is 00000000a80425fb in /proc/PID/status; without MKNOD a00425fb", () => {
    expect(capabilityMask([...KEEP, 'MKNOD']).toString(16)).toBe('a80425fb')
    expect(capabilityMask(KEEP).toString(16)).toBe('a00425fb')
    expect(capabilityNames(0xa00425fbn).sort()).toEqual([...KEEP].sort())
    expect(capabilityNames(1n << 45n)).toEqual(['cap_45'])
  })

  test('parses the Cap* lines of /proc/PID/status', () => {
    const status = 'Name:\tsh\nCapInh:\t0000000000000000\nCapPrm:\t00000000a00425fb\nCapEff:\t00000000a00425fb\nCapBnd:\t00000000a00425fb\nCapAmb:\t0000000000000000\n'
    expect(parseStatusCapabilities(status)).toEqual({ inheritable: 0n, permitted: 0xa00425fbn, effective: 0xa00425fbn, bounding: 0xa00425fbn, ambient: 0n })
    expect(parseStatusCapabilities('Name:\tsh\n')).toBeUndefined()
  })
})

describe.skipIf(skipUnlessRootOnLinux())('dropping them, for real', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-caps-test-'))
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

  test('bounding, capset, ambient, no_new_privs: what a root program execed afterwards holds', () => {
    const node = path.join(tmp, 'null-a')
    const r = JSON.parse(execFileSync(process.execPath, [CHILD, 'capabilities', KEEP.join(','), 'all', node], { encoding: 'utf8' }))
    expect(r.self).toEqual({ effective: '0xa00425fb', permitted: '0xa00425fb', inheritable: '0x0' })
    const sets = parseStatusCapabilities(r.child)!
    expect(sets).toEqual({ inheritable: 0n, permitted: 0xa00425fbn, effective: 0xa00425fbn, bounding: 0xa00425fbn, ambient: 0n })
    expect(r.child).toMatch(/NoNewPrivs:\t1/)
    // Root without CAP_MKNOD: mknod(2) is refused.
    expect(r.mknod).toMatchObject({ status: 1, stderr: expect.stringMatching(/Operation not permitted/) })
    expect(fs.existsSync(node)).toBe(false)
  })

  test.skipIf(spawnSync('setpriv', ['--version']).status !== 0)('only the bounding set dropped: root gets SYS_ADMIN and MKNOD back through an inherited inheritable set', () => {
    // The engine's parent (anyone who starts it) can hand it an inheritable set: setpriv does here.
    const node = path.join(tmp, 'null-b')
    const out = execFileSync('setpriv', ['--inh-caps=+sys_admin,+mknod', process.execPath, CHILD, 'capabilities', KEEP.join(','), 'bounding-only', node], { encoding: 'utf8' })
    const r = JSON.parse(out)
    const sets = parseStatusCapabilities(r.child)!
    expect(sets.bounding).toBe(0xa00425fbn)
    // execve as root: permitted = bounding | inheritable.
    expect(capabilityNames(sets.effective)).toEqual(expect.arrayContaining(['SYS_ADMIN', 'MKNOD']))
    expect(r.mknod.status).toBe(0)
    expect(fs.statSync(node).isCharacterDevice()).toBe(true)
  })
})
