// The image's User ("", "name", "uid", "name:group", "uid:gid") in numbers: read from the container's own
// /etc/passwd and /etc/group (the image's, not the host's: the same name may have another uid there), as runc does.
import fs from 'node:fs'
import { FriendlyError } from '../errors.ts'
import { chdir, setgid, setgroups, setuid } from '../libc.ts'

export interface ResolvedUser {
  uid: number
  gid: number
  /** Supplementary groups (from /etc/group). */
  groups: number[]
  /** The user's home from /etc/passwd, when known. */
  home: string | undefined
}

/**
 * The image's User ("", "name", "uid", "name:group", "uid:gid") in numbers, from the container's /etc/passwd and
 * /etc/group texts (undefined when the file does not exist). Like docker: an unknown uid is allowed (gid 0), an
 * unknown name is an error.
 */
export function resolveUser(user: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const [userPart = '', groupPart] = user.split(':')
  const users = (passwd ?? '').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 7)
  const groups = (group ?? '').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 4)
  const isNumber = (s: string) => /^\d+$/.test(s)
  let uid = 0
  let gid = 0
  let home: string | undefined
  let userName: string | undefined
  if (userPart !== '') {
    const entry = users.find((f) => (isNumber(userPart) ? f[2] === userPart : f[0] === userPart))
    if (!entry && !isNumber(userPart)) throw new FriendlyError(`the image's user ${JSON.stringify(userPart)} is not in its /etc/passwd`)
    uid = entry ? Number(entry[2]) : Number(userPart)
    gid = entry ? Number(entry[3]) : 0
    home = entry?.[5]
    userName = entry?.[0]
  } else {
    const root = users.find((f) => f[2] === '0')
    home = root?.[5]
    userName = root?.[0]
  }
  if (groupPart !== undefined && groupPart !== '') {
    const entry = groups.find((f) => (isNumber(groupPart) ? f[2] === groupPart : f[0] === groupPart))
    if (!entry && !isNumber(groupPart)) throw new FriendlyError(`the image's group ${JSON.stringify(groupPart)} is not in its /etc/group`)
    gid = entry ? Number(entry[2]) : Number(groupPart)
  }
  const supplementary = userName === undefined ? [] : groups.filter((f) => f[3]!.split(',').includes(userName)).map((f) => Number(f[2]))
  return { uid, gid, groups: [...new Set([gid, ...supplementary])], home }
}

/**
 * Container side, in the container's root, last before the command (step 09): the image's WorkingDir (made when
 * the image lacks it, as docker does, while still root), then its User: supplementary groups, group, user, in that
 * order (the group calls need CAP_SETGID, which setuid to a user other than root takes away). Returns the user's home.
 */
export function enterImageProcess(workingDir: string, user: string): string | undefined {
  fs.mkdirSync(workingDir, { recursive: true, mode: 0o755 })
  chdir(workingDir)
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined)
  const resolved = resolveUser(user, read('/etc/passwd'), read('/etc/group'))
  setgroups(resolved.groups)
  setgid(resolved.gid)
  setuid(resolved.uid)
  return resolved.home
}
