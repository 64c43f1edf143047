// Hints and experiments of step 06 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '06-overlayfs',
  todos: [
    {
      id: '06.1',
      concept: 'a layer of the container\'s own: upper and work folders',
      nudge: 'An overlay needs somewhere to put the container\'s changes, and a scratch folder next to it. Why must both be on the same filesystem, and why not inside the image? Who else should be able to read a container\'s files from the host, and what must the container\'s own users (not root) be able to do with its `/`?',
      api: 'Node\'s `fs.mkdirSync` (its `recursive` and `mode` options) makes the three folders under the container\'s folder; `fs.statSync(...).mode` reads a mode, `fs.chmodSync` sets one without the umask. Which mode for `upper`: the overlay\'s `/` shows upper\'s own, so compare `stat -c %a` of the image\'s `/` with the container\'s (`/proc/PID/root/` from the host). `man 2 mkdir`, `man 2 chmod`; the kernel\'s overlayfs.rst, "workdir ... needs to be an empty directory on the same filesystem as upperdir".',
    },
    {
      id: '06.2',
      concept: 'the overlay: the image below, the container\'s layer on top',
      nudge: 'Which filesystem type merges a read-only folder with a writable one? What does it need to be told, and in which form does mount(2) pass options to a filesystem?',
      api: '`mount(source, target, fstype, flags, data)` with fstype "overlay" (the source is only a name), target `layer.merged`, no flags, and the data string `lowerdir=...,upperdir=...,workdir=...` with each path passed through `overlayPath()` (commas and colons escaped). `man 2 mount` (the data argument); Documentation/filesystems/overlayfs.rst, "Multiple lower layers" for lowerdir=a:b:c.',
    },
    {
      id: '06.3',
      concept: 'the layer removed when the container is over',
      nudge: 'The overlay was mounted by init in its own mount namespace. When the container\'s last process exits, what happens to that namespace and its mounts? So what is left for the engine to remove, and what must it never remove?',
      api: '`removeLayerFolder(dir)` (lib/layers.ts) with the container\'s layer folder: the parent of `layer.upper`. It refuses anything but a layer folder and never walks into a mount. `man 7 mount_namespaces` ("when the last process in a namespace ... its mounts are unmounted").',
    },
    {
      id: '06.4',
      concept: 'volumes: a host folder bind-mounted in, read-only when asked',
      nudge: 'A volume is the same host folder seen at a second place, inside the rootfs, before pivot_root hides the host. What does the kernel do with MS_RDONLY on the call that CREATES a bind mount? How do you change the flags of a mount that already exists, without dropping the ones it had?',
      api: '`mount(2)` with `MS_BIND` from `volume.host` onto `target` (no `MS_REC`: a read-only remount covers one mount, not the mounts under it); for `volume.readOnly` a second `mount(2)` on the same target with `MS_REMOUNT | MS_BIND | MS_RDONLY` plus the flags it has (`perMountFlags(target)`). `man 2 mount`, "Creating a bind mount" and "Remounting an existing mount".',
    },
  ],
  experiments: [
    {
      id: '06.x1',
      title: 'Delete a file, look at the layer',
      try: [
        '`sudo node solutions/06-overlayfs/main.ts run /bin/sh -c \'rm /etc/motd; rm -r /etc/apk; mkdir /etc/apk; echo x >> /lib/libcrypto.so.3; sleep 60\' &`',
        'then on the host: `sudo ls -l /var/lib/minicontainer/containers/mc-*/upper/etc /var/lib/minicontainer/containers/mc-*/upper/lib` and `sudo getfattr -d -m trusted /var/lib/minicontainer/containers/mc-*/upper/etc/apk` (getfattr: `apt-get install attr`), and `ls -l /var/lib/minicontainer/rootfs/current/etc/motd`.',
      ].join('\n'),
      predict: 'The image must not change. So what does the upper layer hold for a deleted file, for a folder deleted and made again, and for a 4 MB library that got one more byte?',
      answer: '`etc/motd` in the upper layer is a character device 0,0: a whiteout, which hides the image\'s file. `etc/apk` is a folder with the extended attribute `trusted.overlay.opaque="y"`: an opaque folder, which hides everything the image has under it. `lib/libcrypto.so.3` is a whole 4.3 MB copy: "copy-up" copies the entire file into the upper layer before the first write, however small. The image\'s /etc/motd is still there. (OCI image layers write whiteouts as `.wh.NAME` files and opaque folders as `.wh..wh..opq`, because a tar file cannot carry 0/0 devices portably: step 09 converts.)',
    },
    {
      id: '06.x2',
      title: 'Two containers of one image',
      try: 'In one terminal: `sudo node steps/06-overlayfs/main.ts run /bin/sh -c \'echo one > /etc/one; rm /etc/hostname; sleep 60\'`; in another, while it runs: `sudo node steps/06-overlayfs/main.ts run /bin/sh -c \'ls /etc/one /etc/hostname\'`. Then run the second again after the first ended.',
      predict: 'Does the second container see /etc/one? Does it still have /etc/hostname? And after the first one ended?',
      answer: 'Neither while the first runs nor after: the second sees the image, /etc/hostname included, and no /etc/one. Each container\'s changes live in its own upper layer, and that layer is removed when it ends. With step 05\'s engine both would write into the same folder: the second would see /etc/one, and /etc/hostname would be gone for every container started from then on.',
    },
    {
      id: '06.x3',
      title: 'A layer on the wrong filesystem',
      try: [
        'In a throw-away mount namespace: `sudo unshare -m sh -c \'mkdir -p /tmp/o/l /tmp/o/u /tmp/o/m /dev/shm/w; mount -t overlay overlay -o lowerdir=/tmp/o/l,upperdir=/tmp/o/u,workdir=/dev/shm/w /tmp/o/m\'; sudo dmesg | tail -1`',
        'Then a tiny upper layer: `sudo mkdir -p /tmp/small && sudo mount -t tmpfs -o size=4m tmpfs /tmp/small && sudo MINICONTAINER_HOME=/tmp/small node solutions/06-overlayfs/main.ts run --rootfs /var/lib/minicontainer/rootfs/current -- /bin/sh -c \'df -h /; dd if=/dev/zero of=/big bs=1M count=8\'; sudo umount /tmp/small`',
      ].join('\n'),
      predict: 'Upper on /tmp, work on /dev/shm (a tmpfs): does the mount work? And with the whole layer on a 4 MB tmpfs, what does `df /` say inside, and what happens to the 8 MB file?',
      answer: 'The first mount fails with EINVAL, and the kernel log says why: "overlayfs: workdir and upperdir must reside under the same mount" (copy-up moves a finished file from work to upper with rename, which cannot cross filesystems). In the second, `df /` shows the overlay with the tmpfs\'s 4 MB: the container can write as much as the upper layer\'s filesystem holds, not the image\'s, and dd stops with "No space left on device" after 4 MB. An overlay cannot be the upper layer of another overlay either (dmesg: "filesystem on ... not supported as upperdir"): docker-in-docker needs a volume for /var/lib/docker.',
    },
    {
      id: '06.x4',
      title: 'A read-only volume that is not',
      try: 'In your TODO(06.4), drop the second mount and give MS_RDONLY to the first one instead. `mkdir -p /tmp/cfg && echo hi > /tmp/cfg/a && sudo node steps/06-overlayfs/main.ts run --volume /tmp/cfg:/cfg:ro -- /bin/sh -c \'rm /cfg/a; grep " /cfg " /proc/self/mountinfo\'`, then `ls /tmp/cfg`. Put it back afterwards.',
      predict: 'Is /cfg read-only in the container? Is /tmp/cfg/a still there?',
      answer: 'The file is gone from the HOST, and mountinfo shows /cfg as `rw`: a call that creates a bind mount ignores every flag but MS_REC (man 2 mount). The read-only state is a property of the mount, set afterwards with MS_REMOUNT | MS_BIND | MS_RDONLY, and that remount sets ALL of the mount\'s flags: leave out nosuid or nodev that the host folder had, and the container gets them back. The checker\'s 06.volume-ro writes through the volume and wants EROFS.',
    },
  ],
}
