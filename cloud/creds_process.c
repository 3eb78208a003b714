/*
 * creds_process.c - credentials from credential_process, the user's own
 * command named in a profile of the shared files.
 *
 * As the AWS CLI does, the command line is run by /bin/sh -c, so it is
 * the user's to quote; we add nothing to its argv or environment (no
 * secret of ours reaches it).  The child gets /dev/null as stdin, our
 * stderr (its messages reach our log in the foreground), no other
 * descriptor of ours, default signal dispositions, an empty signal mask
 * and its own process group, so that at the deadline the whole group is
 * killed.  Its stdout is read within timeout_ms and at most
 * CREDS_RESPONSE_MAX bytes; more, a timeout, a non-zero exit or output
 * that creds_parse_json() refuses fail the fetch with a log line that
 * never quotes the output.
 */
#include "config.h"

#include "cloud/creds_internal.h"

#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t mono_ms(void)
{
	return clock_mono_ns() / 1000000;
}

static int spawn(const char *cmd, int out_fd, pid_t *pid)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return -rc;
	rc = posix_spawnattr_init(&at);
	if (rc) {
		posix_spawn_file_actions_destroy(&fa);
		return -rc;
	}
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
						      O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!rc)
		rc = posix_spawnattr_setflags(
			&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				     POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (!rc)
		rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

/* Read fd to EOF into buf (cap bytes) by the deadline.  0, -ETIMEDOUT,
 * -EFBIG (more than cap) or -errno. */
static int read_until(int fd, char *buf, size_t cap, size_t *len,
		      int64_t deadline)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int64_t left;

	*len = 0;
	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pf, 1, (int)(left > 1000 ? 1000 : left)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!pf.revents)
			continue;
		n = read(fd, buf + *len, cap + 1 - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		*len += (size_t)n;
		if (*len > cap)
			return -EFBIG;
	}
}

/* Without a pidfd (a kernel before 5.3, or valgrind): look for the exit
 * every 10 ms until the deadline.  True when pid was reaped. */
static bool reap_polling(pid_t pid, int64_t deadline, int *status)
{
	int64_t left;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		left = deadline - mono_ms();
		if (left <= 0)
			return false;
		poll(NULL, 0, (int)(left > 10 ? 10 : left));
	}
}

/* Wait for pid to exit by the deadline (a pidfd, so no polling loop);
 * past it, kill its group.  The exit status, or -ETIMEDOUT. */
static int reap(pid_t pid, int64_t deadline, bool kill_now)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pf = { .fd = pfd, .events = POLLIN };
	int status = 0, rc = 0;
	bool reaped = false;
	int64_t left;

	while (!kill_now && pfd >= 0) {
		left = deadline - mono_ms();
		if (left <= 0) {
			kill_now = true;
			break;
		}
		if (poll(&pf, 1, (int)(left > 1000 ? 1000 : left)) > 0)
			break;
	}
	if (pfd < 0 && !kill_now) {
		reaped = reap_polling(pid, deadline, &status);
		kill_now = !reaped;
	}
	if (kill_now) {
		kill(-pid, SIGKILL);
		rc = -ETIMEDOUT;
	}
	if (pfd >= 0)
		close(pfd);
	while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = WIFEXITED(status) ? WEXITSTATUS(status)
				       : 128 + WTERMSIG(status);
	return rc;
}

int creds_process_fetch(const char *cmd, unsigned timeout_ms,
			struct cloud_creds *out)
{
	int64_t deadline = mono_ms() + timeout_ms;
	char *buf = malloc(CREDS_RESPONSE_MAX + 1);
	char why[160];
	size_t len = 0;
	int p[2], rc, st;
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out_buf;
	}
	rc = spawn(cmd, p[1], &pid);
	close(p[1]);
	if (rc) {
		close(p[0]);
		log_error("cannot run credential_process: %s", strerror(-rc));
		rc = -ENOKEY;
		goto out_buf;
	}
	rc = read_until(p[0], buf, CREDS_RESPONSE_MAX, &len, deadline);
	close(p[0]);
	st = reap(pid, deadline, rc != 0);
	if (rc == -EFBIG)
		log_error("credential_process wrote more than %d bytes",
			  CREDS_RESPONSE_MAX);
	else if (rc == -ETIMEDOUT || st == -ETIMEDOUT)
		log_error("credential_process did not finish within %u ms: "
			  "killed",
			  timeout_ms);
	else if (rc)
		log_error("cannot read the output of credential_process: %s",
			  strerror(-rc));
	else if (st)
		log_error("credential_process failed with exit status %d", st);
	if (rc || st) {
		rc = -ENOKEY;
		goto out_wipe;
	}
	rc = creds_parse_json(buf, len, CREDS_JSON_PROCESS, out, why,
			      sizeof(why));
	if (rc == -EBADMSG) {
		log_error("refusing the output of credential_process: %s", why);
		rc = -ENOKEY;
	}
out_wipe:
	OPENSSL_cleanse(buf, len);
out_buf:
	free(buf);
	return rc;
}
