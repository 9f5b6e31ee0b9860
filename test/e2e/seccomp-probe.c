/*
 * seccomp-probe: makes the system calls named on its command line, each in a child process, and
 * prints one line per name: `NAME=ok` or `NAME=<errno name>` (EPERM, ENOSYS, or E<number>).
 * Built static by test/integration/seccomp.test.ts (gcc -static) and run inside containers.
 * Names ending in 32 use the i386 entry (int $0x80), which seccomp filters as SCMP_ARCH_X86.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/personality.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long sys32(long nr, long a, long b, long c, long d) {
#if defined(__x86_64__)
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d) : "memory");
  if (r < 0 && r > -4096) { errno = (int)-r; return -1; }
  return r;
#else
  (void)nr; (void)a; (void)b; (void)c; (void)d;
  errno = EINVAL;
  return -1;
#endif
}

/* a child made by a raw clone/clone3 returns 0 here and exits at once */
static long reap(long pid) {
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid < 0 ? -1 : 0;
}

static long rmmsg(long id) {
  if (id >= 0) msgctl((int)id, IPC_RMID, NULL);
  return id < 0 ? -1 : 0;
}

static long rmshm(long id) {
  if (id >= 0) shmctl((int)id, IPC_RMID, NULL);
  return id < 0 ? -1 : 0;
}

static void *thread_main(void *arg) { return arg; }

static long probe(const char *n) {
  if (!strcmp(n, "personality-query")) return syscall(SYS_personality, 0xffffffffUL) == -1 ? -1 : 0;
  if (!strcmp(n, "personality-linux32")) return syscall(SYS_personality, (unsigned long)PER_LINUX32);
  if (!strcmp(n, "personality-noaslr")) return syscall(SYS_personality, (unsigned long)ADDR_NO_RANDOMIZE);
  if (!strcmp(n, "personality-noaslr-bit31"))
    return syscall(SYS_personality, 0x80000000UL | ADDR_NO_RANDOMIZE);
  if (!strcmp(n, "personality-exec")) return syscall(SYS_personality, (unsigned long)READ_IMPLIES_EXEC);
  if (!strcmp(n, "unshare-user")) return unshare(CLONE_NEWUSER);
  if (!strcmp(n, "unshare-fs")) return unshare(CLONE_FS | CLONE_FILES);
  if (!strcmp(n, "clone-newuser")) return reap(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  if (!strcmp(n, "clone3")) {
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    return reap(syscall(SYS_clone3, &a, sizeof a));
  }
  if (!strcmp(n, "fork")) return reap(fork());
  if (!strcmp(n, "pthread")) {
    pthread_t t;
    int e = pthread_create(&t, NULL, thread_main, NULL);
    if (e) { errno = e; return -1; }
    return pthread_join(t, NULL);
  }
  if (!strcmp(n, "keyctl")) return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -2 /* process */, 1);
  if (!strcmp(n, "kcmp")) return syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0);
  if (!strcmp(n, "io_uring")) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    return syscall(SYS_io_uring_setup, 1, &p);
  }
  if (!strcmp(n, "userfaultfd")) return syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
  if (!strcmp(n, "perf")) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
  }
  if (!strcmp(n, "mount-tmpfs")) {
    mkdir("/probe-mnt", 0755);
    long r = mount("probe", "/probe-mnt", "tmpfs", 0, "size=1m");
    if (r == 0) umount2("/probe-mnt", 0);
    return r;
  }
  if (!strcmp(n, "syslog")) return syscall(SYS_syslog, 10 /* SIZE_BUFFER */, 0, 0);
  if (!strcmp(n, "settimeofday")) return syscall(SYS_settimeofday, NULL, NULL);
  /* each IPC object made is removed at once */
  if (!strcmp(n, "msgget")) return rmmsg(msgget(IPC_PRIVATE, 0600));
  if (!strcmp(n, "shmget")) return rmshm(shmget(IPC_PRIVATE, 4096, 0600));
  if (!strcmp(n, "semget")) {
    long id = semget(IPC_PRIVATE, 1, 0600);
    if (id >= 0) semctl((int)id, 0, IPC_RMID);
    return id < 0 ? -1 : 0;
  }
  /* i386 entry: ipc(2) = 117 with MSGGET 13 / SHMGET 23; unshare = 310; personality = 136 */
  if (!strcmp(n, "msgget32")) return rmmsg(sys32(117, 13, IPC_PRIVATE, 0600, 0));
  if (!strcmp(n, "shmget32")) return rmshm(sys32(117, 23, IPC_PRIVATE, 4096, 0600));
  if (!strcmp(n, "unshare-user32")) return sys32(310, CLONE_NEWUSER, 0, 0, 0);
  if (!strcmp(n, "personality-noaslr32")) return sys32(136, ADDR_NO_RANDOMIZE, 0, 0, 0);
  if (!strcmp(n, "getpid32")) return sys32(20, 0, 0, 0, 0);
  errno = EINVAL;
  return -2;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int fds[2];
    if (pipe(fds) != 0) return 2;
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      errno = 0;
      long r = probe(argv[i]);
      int e = r == -2 ? -1 : r < 0 ? errno : 0;
      if (write(fds[1], &e, sizeof e) != sizeof e) _exit(3);
      _exit(0);
    }
    close(fds[1]);
    int e = -1;
    ssize_t got = read(fds[0], &e, sizeof e);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    if (got != sizeof e) printf("%s=crashed\n", argv[i]);
    else if (e == -1) printf("%s=unknown\n", argv[i]);
    else if (e == 0) printf("%s=ok\n", argv[i]);
    else if (e == EPERM) printf("%s=EPERM\n", argv[i]);
    else if (e == ENOSYS) printf("%s=ENOSYS\n", argv[i]);
    else printf("%s=E%d\n", argv[i], e);
  }
  fflush(stdout);
  return 0;
}
