/* SPDX-License-Identifier: Apache-2.0
 * File-system and thread helpers shared by storage/'s writers (journal.c, snapstore.c):
 * one copy of each. Private to storage/.
 */
#ifndef FS_PVT_H
#define FS_PVT_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/** fsync of the directory that holds path (a new entry in it is then durable).
 *  @return 0 or -errno. */
static inline int storage_sync_parent(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	char *slash = strrchr(buf, '/');
	if (slash == buf)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(buf, sizeof(buf), ".");
	int fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) != 0 ? -errno : 0;
	close(fd);
	return rc;
}

/**
 * Creates dir (0700) if it is missing; a new one is made durable in its parent (unless
 * sync is false). @return 0, or -errno with *what set to the step that failed
 * ("create", or "fsync the parent of").
 */
static inline int storage_mkdir(const char *dir, bool sync, const char **what)
{
	if (mkdir(dir, 0700) == 0) {
		int rc = sync ? storage_sync_parent(dir) : 0;
		*what = "fsync the parent of";
		return rc;
	}
	*what = "create";
	return errno == EEXIST ? 0 : -errno;
}

/** Starts a writer thread with every signal blocked (they are the process's to
 *  handle), named name. @return 0 or -errno (pthread_create's). */
static inline int storage_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
				       const char *name)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	pthread_setname_np(*t, name);
	return 0;
}

/** The futex system call on a 32-bit atomic word (FUTEX_WAIT/WAKE_PRIVATE). */
static inline long storage_futex(_Atomic uint32_t *word, int op, uint32_t val,
				 const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)(void *)word, op, val, ts, NULL, 0);
}

#endif /* FS_PVT_H */
