// spogw-sandbox-launch: the first process of every sandboxed Python program (src/benchmarks/sandbox).
// It does, in this order, what must happen before anything else runs and what Node's spawn cannot do
// between fork and exec, then execs the sandbox command (bwrap, unshare or prlimit):
//
//   --join-cgroup FILE      write our pid to FILE (a cgroup.procs); every process the program starts is
//                           then born inside that cgroup, so there is no window to escape its limits
//   --tmpfs DIR SIZE FILES  mount a tmpfs of SIZE bytes and at most FILES inodes on DIR, in a private
//                           mount namespace of our own (as root: a new mount namespace; otherwise inside a
//                           new user namespace that maps only our own uid and gid). The mount dies with the
//                           last process of the program: nothing to unmount, nothing left if Node is killed
//   --chdir DIR             change to DIR once the mounts exist (a directory we were started in would
//                           still show what lies under a tmpfs mounted on it)
//   --uid UID --gid GID     drop to UID/GID (needs root; supplementary groups are cleared)
//   --keep-fds N            close every descriptor >= N (close_range), so a descriptor this process
//                           inherited from whatever started Node never reaches the program
//   -- PROGRAM ARGS...      execv
//
// Any failure prints "spogw-sandbox-launch: <step>: <reason>" and exits 125; nothing is half-applied
// because nothing runs afterwards. Every number is parsed with full range and trailing-garbage checks.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

// glibc before 2.34 (the prebuilds' Debian 11 root has 2.31) has no SYS_close_range; the syscall's
// number is 436 on every architecture (it was added after the syscall tables were unified).
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define LAUNCH_FAILED 125
#define MAX_LIST 8

static void fail(const char *step, const char *reason) {
  fprintf(stderr, "spogw-sandbox-launch: %s: %s\n", step, reason);
  _exit(LAUNCH_FAILED);
}

static void fail_errno(const char *step) { fail(step, strerror(errno)); }

/** A whole decimal number in [0, max]; anything else (sign, garbage, overflow) is an error. */
static uint64_t parse_number(const char *text, uint64_t max, const char *what) {
  if (text == NULL || text[0] < '0' || text[0] > '9') fail(what, "expected a non-negative whole number");
  errno = 0;
  char *end = NULL;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == NULL || *end != '\0' || value > max) fail(what, "number out of range or malformed");
  return (uint64_t)value;
}

static void write_file(const char *path, const char *text, const char *step) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail_errno(step);
  size_t length = strlen(text);
  ssize_t written = write(fd, text, length);
  if (written < 0 || (size_t)written != length) fail_errno(step);
  if (close(fd) != 0) fail_errno(step);
}

struct tmpfs_mount {
  const char *dir;
  uint64_t bytes;
  uint64_t files;
};

struct options {
  const char *cgroups[MAX_LIST];
  int cgroup_count;
  struct tmpfs_mount mounts[MAX_LIST];
  int mount_count;
  const char *chdir_to;
  int drop_ids; /* both --uid and --gid given */
  uid_t uid;
  gid_t gid;
  int have_uid, have_gid;
  unsigned int keep_fds;
  int have_keep_fds;
  char **program; /* argv from PROGRAM on */
};

static struct options parse(int argc, char **argv) {
  struct options o;
  memset(&o, 0, sizeof o);
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--join-cgroup") == 0 && i + 1 < argc) {
      if (o.cgroup_count == MAX_LIST) fail("--join-cgroup", "too many");
      o.cgroups[o.cgroup_count++] = argv[++i];
    } else if (strcmp(a, "--tmpfs") == 0 && i + 3 < argc) {
      if (o.mount_count == MAX_LIST) fail("--tmpfs", "too many");
      struct tmpfs_mount *m = &o.mounts[o.mount_count++];
      m->dir = argv[++i];
      if (m->dir[0] != '/') fail("--tmpfs", "the directory must be an absolute path");
      m->bytes = parse_number(argv[++i], (uint64_t)1 << 40, "--tmpfs size");
      m->files = parse_number(argv[++i], (uint64_t)1 << 31, "--tmpfs file count");
      if (m->bytes == 0 || m->files == 0) fail("--tmpfs", "size and file count must be positive");
    } else if (strcmp(a, "--chdir") == 0 && i + 1 < argc) {
      o.chdir_to = argv[++i];
    } else if (strcmp(a, "--uid") == 0 && i + 1 < argc) {
      o.uid = (uid_t)parse_number(argv[++i], (uint64_t)UINT32_MAX - 1, "--uid");
      o.have_uid = 1;
    } else if (strcmp(a, "--gid") == 0 && i + 1 < argc) {
      o.gid = (gid_t)parse_number(argv[++i], (uint64_t)UINT32_MAX - 1, "--gid");
      o.have_gid = 1;
    } else if (strcmp(a, "--keep-fds") == 0 && i + 1 < argc) {
      o.keep_fds = (unsigned int)parse_number(argv[++i], 1024, "--keep-fds");
      o.have_keep_fds = 1;
    } else {
      fail(a, "unknown option or missing value (see the comment at the top of sandbox_launch.c)");
    }
  }
  if (o.have_uid != o.have_gid) fail("--uid/--gid", "give both or neither");
  o.drop_ids = o.have_uid;
  if (!o.have_keep_fds || o.keep_fds < 3) fail("--keep-fds", "required, and at least 3 (stdin, stdout, stderr)");
  if (i >= argc || argv[i][0] != '/') fail("--", "an absolute program path must follow --");
  o.program = &argv[i];
  return o;
}

static void join_cgroups(const struct options *o) {
  char pid[32];
  snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  for (int i = 0; i < o->cgroup_count; i++) write_file(o->cgroups[i], pid, "joining the program's cgroup");
}

/** A mount namespace of our own, with no propagation back to the host. */
static void private_mount_namespace(void) {
  if (geteuid() == 0) {
    if (unshare(CLONE_NEWNS) != 0) fail_errno("unshare(CLONE_NEWNS)");
  } else {
    // Without root, a user namespace gives us the right to mount; it maps only our own ids, so files
    // keep their owners. The sandbox command (bwrap) nests its own namespaces inside this one.
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) fail_errno("unshare(CLONE_NEWUSER | CLONE_NEWNS)");
    char map[64];
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    write_file("/proc/self/uid_map", map, "writing uid_map");
    write_file("/proc/self/setgroups", "deny\n", "writing setgroups");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    write_file("/proc/self/gid_map", map, "writing gid_map");
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail_errno("making / private");
}

static void mount_tmpfs(const struct options *o) {
  if (o->mount_count == 0) return;
  private_mount_namespace();
  uid_t owner = o->drop_ids ? o->uid : geteuid();
  gid_t group = o->drop_ids ? o->gid : getegid();
  for (int i = 0; i < o->mount_count; i++) {
    const struct tmpfs_mount *m = &o->mounts[i];
    char data[160];
    snprintf(data, sizeof data, "size=%" PRIu64 ",nr_inodes=%" PRIu64 ",mode=0700,uid=%u,gid=%u", m->bytes, m->files,
             (unsigned)owner, (unsigned)group);
    if (mount("tmpfs", m->dir, "tmpfs", MS_NOSUID | MS_NODEV, data) != 0) fail_errno("mounting the work-dir tmpfs");
  }
}

static void close_inherited_descriptors(unsigned int keep) {
  if (syscall(SYS_close_range, keep, ~0U, 0) == 0) return;
  if (errno != ENOSYS) fail_errno("close_range");
  // Kernels before 5.9: close what /proc/self/fd lists. Collected first, closed after the listing ends,
  // so closing does not disturb the directory walk.
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) fail_errno("listing /proc/self/fd");
  int found[4096];
  size_t count = 0;
  for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    uint64_t fd = parse_number(entry->d_name, INT_MAX, "descriptor number in /proc/self/fd");
    if (fd < keep || (int)fd == dirfd(dir)) continue;
    if (count == sizeof found / sizeof found[0]) fail("closing inherited descriptors", "more than 4096 open");
    found[count++] = (int)fd;
  }
  closedir(dir);
  for (size_t i = 0; i < count; i++) close(found[i]);
}

static void drop_ids(const struct options *o) {
  if (!o->drop_ids) return;
  if (setgroups(0, NULL) != 0) fail_errno("setgroups");
  if (setgid(o->gid) != 0) fail_errno("setgid");
  if (setuid(o->uid) != 0) fail_errno("setuid");
  if (getuid() != o->uid || geteuid() != o->uid || getgid() != o->gid) fail("dropping ids", "ids did not change");
}

int main(int argc, char **argv) {
  struct options o = parse(argc, argv);
  join_cgroups(&o);
  mount_tmpfs(&o);
  if (o.chdir_to != NULL && chdir(o.chdir_to) != 0) fail_errno("--chdir");
  close_inherited_descriptors(o.keep_fds);
  drop_ids(&o);
  execv(o.program[0], o.program);
  fail_errno(o.program[0]);
  return LAUNCH_FAILED;
}
