/*
 * The classic chroot escape (man 2 chroot: "the superuser can escape from a chroot jail by doing
 * mkdir foo; chroot foo; cd .."), as a root process inside a container would try it.
 *
 * The checker (check 05.escape) compiles it statically at check time and runs it as the container's
 * command, with HOST_FILE a file it placed on the host, outside the container's root:
 *
 *   chroot-escape JAIL HOST_FILE [TOKEN]
 *
 *   1. chroot into JAIL, a folder inside the container: the root directory moves down, the current
 *      directory stays above it (the man page's "mkdir foo; chroot foo");
 *   2. chdir("..") many times: no step of the climb is the root any more, so nothing stops it before
 *      the top of the mount tree the process can reach;
 *   3. chroot("."): that top becomes the root directory;
 *   4. open HOST_FILE by its host path.
 *
 * Against a chroot-only engine (step 04) the top is the host's "/" and the file is read. After
 * pivot_root and the old root's unmount (step 05) the top is the container's own root.
 *
 * Prints "@mc key=value" lines (ok, or error:ERRNO), then "@mc ready", then waits for a line on stdin
 * so the checker can look at /proc/PID/root from the host meanwhile. TOKEN is not used: the checker
 * finds this process by it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void report(const char *key, int result) {
  if (result == 0) printf("@mc %s=ok\n", key);
  else printf("@mc %s=error:%d\n", key, errno);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0); /* every line reaches the checker at once, even through a pipe */
  if (argc < 3) {
    fprintf(stderr, "usage: %s JAIL HOST_FILE [TOKEN]\n", argv[0]);
    return 2;
  }

  /* The folder to chroot into was put into the container's rootfs by the checker: nothing is created
     here, so the program changes nothing when it runs where it should not (on the host). */
  int chrooted = chroot(argv[1]);
  report("escape-chroot", chrooted);
  if (chrooted == 0) {
    /* The current directory is still the old "/", above the new root: climb. */
    for (int i = 0; i < 64; i++) {
      if (chdir("..") != 0) break;
    }
    report("escape-chroot-top", chroot("."));
  }

  char buffer[256];
  int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    printf("@mc escape-read=error:%d\n", errno);
  } else {
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    buffer[n > 0 ? n : 0] = '\0';
    buffer[strcspn(buffer, "\n")] = '\0';
    printf("@mc escape-read=%s\n", buffer);
    close(fd);
  }

  printf("@mc ready\n");
  for (int c = getchar(); c != EOF && c != '\n'; c = getchar()) {
  }
  return 0;
}
