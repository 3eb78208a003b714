/*
 * notify_listen.c - the systemd side of sd_notify(3), for the tests.
 *
 *   notify_listen SOCKET MOUNTPOINT TIMEOUT_S
 *
 * Binds a unix datagram socket at SOCKET (what systemd passes to a
 * Type=notify service in NOTIFY_SOCKET) and prints every message it
 * receives, one assignment a line.  When a message holds READY=1 it looks
 * at /proc/self/mountinfo at once and prints "mounted=yes" or
 * "mounted=no", so the test sees whether the mount was live when readiness
 * was reported.  Exits 0 after a message holding STOPPING=1, 1 when
 * TIMEOUT_S seconds pass without one.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static bool is_mounted(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], point[4096];
	bool found = false;

	if (!f)
		return false;
	/* field 5 is the mount point (no test path holds a space) */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 &&
		    !strcmp(point, mnt))
			found = true;
	fclose(f);
	return found;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[4097];
	double end;
	int fd;

	if (argc != 4 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr,
			"usage: notify_listen SOCKET MOUNTPOINT TIMEOUT_S\n");
		return 2;
	}
	end = now_s() + atof(argv[3]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "notify_listen: cannot bind '%s': %s\n",
			argv[1], strerror(errno));
		return 2;
	}
	while (now_s() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n < 0)
			continue;
		msg[n] = 0;
		printf("%s\n", msg);
		if (strstr(msg, "READY=1"))
			printf("mounted=%s\n",
			       is_mounted(argv[2]) ? "yes" : "no");
		fflush(stdout);
		if (strstr(msg, "STOPPING=1"))
			return 0;
	}
	fprintf(stderr, "notify_listen: no STOPPING=1 within %s s\n", argv[3]);
	return 1;
}
