/*
 * main.c - the caravanfs program: parse the command line, open the store,
 * mount, serve FUSE requests on a pool of threads, and on unmount or
 * SIGTERM/SIGINT/SIGHUP flush and checkpoint the store (store_close).
 *
 * Start-up order, chosen so that every failure is reported to whoever
 * started the program (a shell, mount(8), systemd) with a non-zero exit:
 *   1. parse and check options (fs/options.c), and libfuse's by a trial
 *      session (check_fuse_args); without -d, make the process
 *      non-dumpable (no secrets in core dumps); make the paths absolute
 *      (a daemon runs in /); refuse a mount point that is no directory,
 *      a store or dir: target inside the mount point and a mount point
 *      inside either; create STORE_DIR (0700).  Nothing is created before
 *      every option was checked, and a start that fails before the mount
 *      is live removes the store directory it created (remove_created);
 *   2. without -f, fork: the parent waits on a pipe and exits with the
 *      status the child reports; the child goes on in a new session.  The
 *      fork comes before anything starts a thread (the store's committer).
 *   3. open the store (recovery, lock file: a second mount fails here with
 *      the holder's pid) and the document layer, start cloud backup, make
 *      the FUSE session, start the metrics writer and bind its listener
 *      (a port in use fails here, with nothing mounted), mount;
 *   4. report success: the daemon detaches stdio and logs to syslog from
 *      now on; in the foreground logs stay on stderr.  Under systemd
 *      (Type=notify, NOTIFY_SOCKET set) sd_notify sends READY=1 here,
 *      when the mount is live;
 *   5. serve until the kernel ends the session or a signal arrives; then
 *      send STOPPING=1, unmount, stop the metrics writer, free open
 *      handles, drain and stop the uploader, close the store.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "fs/attr.h"
#include "fs/cloud_glue.h"
#include "fs/follow_glue.h"
#include "fs/dir.h"
#include "fs/file.h"
#include "fs/fs.h"
#include "fs/metrics.h"
#include "fs/ops.h"
#include "fs/options.h"
#include "fs/sync.h"
#include "util/log.h"

/* libfuse writes some complaints in pieces ("fuse: unknown option(s):
 * `", each option, "'\n"): the pieces are gathered here and logged as
 * one line when the newline comes. */
static pthread_mutex_t fuse_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char fuse_log_line[512];

static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt,
			     va_list ap)
{
	enum log_level l = LOG_LVL_DEBUG;
	char *line = fuse_log_line;
	size_t n;

	if (level <= FUSE_LOG_ERR)
		l = LOG_LVL_ERROR;
	else if (level == FUSE_LOG_WARNING)
		l = LOG_LVL_WARN;
	else if (level <= FUSE_LOG_INFO)
		l = LOG_LVL_INFO;
	if (!log_enabled(l))
		return;
	pthread_mutex_lock(&fuse_log_mu);
	n = strlen(line);
	vsnprintf(line + n, sizeof(fuse_log_line) - n, fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] != '\n' && n + 1 < sizeof(fuse_log_line)) {
		pthread_mutex_unlock(&fuse_log_mu);
		return; /* more to come */
	}
	if (n && line[n - 1] == '\n')
		line[n - 1] = 0;
	log_msg(l, "%s", line);
	line[0] = 0;
	pthread_mutex_unlock(&fuse_log_mu);
}

/* The outermost directory this run created for the store (mkdir -p of
 * STORE_DIR), absolute; NULL when the store directory existed.  A start
 * that fails before the mount is live removes it again with everything
 * in it (all of it is ours), so a failed first mount leaves nothing. */
static char *created_dir;

/* mkdir -p; the first directory made is remembered in created_dir. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		buf[i] = 0;
		if (mkdir(buf, 0700) < 0) {
			if (errno != EEXIST)
				return -errno;
		} else if (!created_dir) {
			created_dir = realpath(buf, NULL);
		}
		buf[i] = path[i];
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
		log_warn("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* A start that failed: the store directory it created goes again. */
static void remove_created(void)
{
	if (!created_dir)
		return;
	if (nftw(created_dir, remove_entry, 16,
		 FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		log_warn("cannot remove '%s': %s", created_dir,
			 strerror(errno));
	free(created_dir);
	created_dir = NULL;
}

static int absolute(char **path)
{
	char *abs = realpath(*path, NULL);

	if (!abs)
		return -errno;
	free(*path);
	*path = abs;
	return 0;
}

/* The cloud target dir:PATH relative to the current directory. */
static int cloud_absolute(struct fs_config *c)
{
	char cwd[PATH_MAX], *abs;
	size_t n;

	if (strncmp(c->cloud, "dir:", 4) || c->cloud[4] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	n = strlen(cwd) + strlen(c->cloud) + 2;
	abs = malloc(n);
	if (!abs)
		return -ENOMEM;
	snprintf(abs, n, "dir:%s/%s", cwd, c->cloud + 4);
	free(c->cloud);
	c->cloud = abs;
	return 0;
}

/* Cut path p to its parent ("/x" to "/", "/" stays); false when p has
 * no '/'. */
static bool cut_to_parent(char *p)
{
	char *slash = strrchr(p, '/');

	if (!slash)
		return false;
	if (slash == p)
		slash[1] = 0;
	else
		*slash = 0;
	return true;
}

/* The deepest existing ancestor of path (path itself when it exists),
 * resolved (free with free()); NULL with errno set. */
static char *deepest_existing(const char *path)
{
	char *p = strdup(path), *real = NULL;

	if (!p)
		return NULL;
	while (!(real = realpath(p, NULL)) && errno == ENOENT) {
		if (!cut_to_parent(p)) {
			real = realpath(".", NULL);
			break;
		}
	}
	free(p);
	return real;
}

/* Whether path (whose tail may not exist yet) is directory dir or lies
 * inside it: its deepest existing ancestor and each parent of that are
 * compared with dir by device and inode, which sees through symlinks and
 * bind mounts. */
static bool path_within(const char *path, const struct stat *dir)
{
	char *real = deepest_existing(path);
	struct stat st;
	bool in = false;

	if (!real)
		return false;
	for (;;) {
		if (stat(real, &st) == 0 && st.st_dev == dir->st_dev &&
		    st.st_ino == dir->st_ino) {
			in = true;
			break;
		}
		if (!strcmp(real, "/") || !cut_to_parent(real))
			break;
	}
	free(real);
	return in;
}

/* A store (or a dir: target) reached through its own mount deadlocks:
 * every file operation of the daemon on it would wait for the daemon.
 * Refuse the store or the target inside the mount point, and the mount
 * point inside the store or the target. */
static int check_nesting(const struct fs_config *c)
{
	const char *target = strncmp(c->cloud, "dir:", 4) ? NULL : c->cloud + 4;
	struct stat mp, st;

	if (stat(c->mountpoint, &mp) < 0)
		return -errno;
	if (path_within(c->store_dir, &mp)) {
		log_error(
			"cannot mount store '%s' on '%s': the store lies inside the mount point",
			c->store_dir, c->mountpoint);
		return -EINVAL;
	}
	if (stat(c->store_dir, &st) == 0 && path_within(c->mountpoint, &st)) {
		log_error(
			"cannot mount store '%s' on '%s': the mount point lies inside the store",
			c->store_dir, c->mountpoint);
		return -EINVAL;
	}
	if (target && path_within(target, &mp)) {
		log_error(
			"cannot back up to '%s': it lies inside the mount point '%s'",
			c->cloud, c->mountpoint);
		return -EINVAL;
	}
	if (target && stat(target, &st) == 0 &&
	    path_within(c->mountpoint, &st)) {
		log_error(
			"cannot mount on '%s': it lies inside the cloud target '%s'",
			c->mountpoint, c->cloud);
		return -EINVAL;
	}
	return 0;
}

static int prepare_paths(struct fs_config *c)
{
	struct stat st;
	int rc;

	rc = absolute(&c->mountpoint);
	if (rc == 0 && stat(c->mountpoint, &st) < 0)
		rc = -errno;
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc < 0) {
		log_error("cannot use mount point '%s': %s", c->mountpoint,
			  strerror(-rc));
		return rc;
	}
	rc = cloud_absolute(c);
	if (rc == 0)
		rc = check_nesting(c);
	if (rc < 0)
		return rc;
	rc = make_dirs(c->store_dir);
	if (rc == 0)
		rc = absolute(&c->store_dir);
	if (rc < 0)
		log_error("cannot create store directory '%s': %s",
			  c->store_dir, strerror(-rc));
	return rc;
}

/* Every option libfuse takes (-o allow_other, max_read=, ...) is
 * checked before anything is created: a session is made from a copy of
 * the arguments and freed again (it opens nothing; the mount comes
 * later).  0, or -EINVAL after libfuse's own message. */
static int check_fuse_args(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	int i, rc = 0;

	for (i = 0; i < args->argc && rc == 0; i++)
		rc = fuse_opt_add_arg(&copy, args->argv[i]);
	if (rc < 0) {
		fuse_opt_free_args(&copy);
		return -ENOMEM;
	}
	se = fuse_session_new(&copy, &fs_ops, sizeof(fs_ops), NULL);
	fuse_opt_free_args(&copy);
	if (!se)
		return -EINVAL;
	fuse_session_destroy(se);
	return 0;
}

/* fsname=STORE_DIR and subtype=caravanfs unless given (df and mount show
 * them). */
static int add_names(struct fuse_args *args, const struct fs_config *c)
{
	char *opts = NULL, *fsname;
	bool has_fsname = false;
	size_t n;
	int i, rc;

	for (i = 0; i < args->argc; i++)
		if (strstr(args->argv[i], "fsname="))
			has_fsname = true;
	rc = fuse_opt_add_opt(&opts, "subtype=caravanfs");
	if (rc == 0 && c->follow) /* a follower: read-only for the kernel */
		rc = fuse_opt_add_opt(&opts, "ro");
	if (rc == 0 && !has_fsname) {
		n = strlen(c->store_dir) + sizeof("fsname=");
		fsname = malloc(n);
		if (!fsname) {
			free(opts);
			return -ENOMEM;
		}
		snprintf(fsname, n, "fsname=%s", c->store_dir);
		rc = fuse_opt_add_opt_escaped(&opts, fsname);
		free(fsname);
	}
	if (rc == 0)
		rc = fuse_opt_add_arg(args, "-o");
	if (rc == 0)
		rc = fuse_opt_add_arg(args, opts);
	free(opts);
	return rc < 0 ? -ENOMEM : 0;
}

/* Fork; the parent exits with the status the child reports through the
 * pipe (1 when the child dies first).  Returns the child's end. */
static int daemon_begin(void)
{
	int p[2];
	pid_t pid;
	char st = 1;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(p[0]);
	setsid();
	return p[1];
}

static void daemon_ready(int fd, int status)
{
	char st = (char)status;
	int null;

	if (fd < 0)
		return;
	if (status == 0) {
		if (chdir("/") < 0)
			log_warn("cannot change to '/': %s", strerror(errno));
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		log_use_syslog(true);
	}
	if (write(fd, &st, 1) != 1)
		log_warn("cannot report start-up: %s", strerror(errno));
	close(fd);
}

/* Tell systemd (Type=notify) about a state change: READY=1 once the
 * mount is live, STOPPING=1 when the unmount begins.  Does nothing when
 * NOTIFY_SOCKET is not set or without libsystemd. */
static void notify_state(const char *state, const struct fs_config *c)
{
#ifdef HAVE_LIBSYSTEMD
	int rc = sd_notifyf(0, "%s\nSTATUS=%s '%s' on '%s'", state,
			    strcmp(state, "READY=1") ? "unmounting" : "serving",
			    c->store_dir, c->mountpoint);

	if (rc < 0)
		log_warn("cannot notify systemd of '%s': %s", state,
			 strerror(-rc));
#endif
}

/* capacity= on an existing store: a larger value grows the store to it
 * (store_grow: the data file is extended and preallocated, then a
 * checkpoint); a smaller one changes nothing, as a store never shrinks,
 * and says so.  A growth the disk cannot hold fails the mount. */
static int capacity_apply(struct fs *fs)
{
	const struct fs_config *c = &fs->cfg;
	struct store_stats st;
	int rc;

	if (!c->capacity_set)
		return 0;
	store_stats(fs->s, &st);
	if (c->capacity_bytes < st.capacity_bytes) {
		log_warn("capacity=%" PRIu64
			 " is below the capacity of store '%s' (%" PRIu64
			 " bytes): a store never shrinks; it keeps its size",
			 c->capacity_bytes, c->store_dir, st.capacity_bytes);
		return 0;
	}
	if (c->capacity_bytes == st.capacity_bytes)
		return 0;
	if (c->read_only) {
		log_warn(
			"capacity=%" PRIu64
			" ignored: store '%s' is mounted read-only and keeps %" PRIu64
			" bytes",
			c->capacity_bytes, c->store_dir, st.capacity_bytes);
		return 0;
	}
	rc = store_grow(fs->s, c->capacity_bytes);
	if (rc < 0)
		log_error("cannot grow store '%s' to capacity=%" PRIu64 ": %s",
			  c->store_dir, c->capacity_bytes, strerror(-rc));
	return rc;
}

static int fs_open_store(struct fs *fs)
{
	struct fs_config *c = &fs->cfg;
	struct store_options so;
	struct doc_options dopt;
	uint64_t need;
	int rc;

	store_options_default(&so);
	so.capacity_bytes = c->capacity_bytes;
	so.max_capacity_bytes = c->max_capacity_bytes;
	so.min_free_bytes = c->min_free_bytes;
	so.cutover_bytes = c->cutover_bytes;
	so.commit_ms = c->commit_ms;
	so.sync = c->sync;
	so.read_only = so.lock_shared = c->read_only;
	so.reserved_prefix = FS_RESERVED_PREFIX;
	need = (c->max_doc_bytes > c->max_patch_bytes ? c->max_doc_bytes
						      : c->max_patch_bytes) +
	       1;
	if (so.max_entry_bytes < need)
		so.max_entry_bytes = need;
	rc = store_open(c->store_dir, &so, &fs->s);
	if (rc < 0) {
		log_error("cannot open store '%s': %s", c->store_dir,
			  strerror(-rc));
		return rc;
	}
	rc = capacity_apply(fs);
	if (rc < 0) {
		store_close(fs->s);
		fs->s = NULL;
		return rc;
	}
	doc_options_default(&dopt);
	dopt.cache_bytes = c->cache_bytes;
	dopt.max_doc_bytes = c->max_doc_bytes;
	dopt.max_patch_bytes = c->max_patch_bytes;
	dopt.compact_entries = c->compact_entries;
	dopt.compact_ratio = c->compact_ratio;
	dopt.compact_min_bytes = c->compact_min_bytes;
	dopt.history = c->history;
	dopt.history_age_ns = c->history_age_ns;
	rc = doc_open(fs->s, &dopt, &fs->doc);
	if (rc < 0) {
		log_error("cannot start the document layer: %s", strerror(-rc));
		store_close(fs->s);
		fs->s = NULL;
	}
	return rc;
}

/* Serve requests.  A worker is started whenever none is free, up to
 * max_threads (libfuse's own default is 10), and idle workers are kept.
 * Only the fsync that finds nobody syncing holds its worker through the
 * flush; the others are queued (sync.c) and free theirs at once. */
static int serve(struct fuse_session *se, const struct fs_config *c,
		 bool single_thread)
{
	struct fuse_loop_config *lc;
	int rc;

	if (single_thread)
		return fuse_session_loop(se);
	lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_max_threads(lc, c->max_threads);
	rc = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
}

/* Steps 3-5 of the start-up order.  Returns the exit status. */
static int run(struct fs *fs, struct fuse_args *args, bool single_thread,
	       int ready_fd)
{
	struct fuse_session *se;
	int rc, status = 1;

	if (fs_open_store(fs) < 0)
		goto out_report;
	rc = fs_root_init(fs);
	if (rc < 0) {
		log_error("cannot read the attributes of the root of '%s': %s",
			  fs->cfg.store_dir, strerror(-rc));
		goto out_store;
	}
	if (!fs->cfg.follow && fs->cfg.cloud_takeover &&
	    follow_glue_fill(fs) < 0)
		goto out_store; /* a follower's bodies first */
	if ((fs->cfg.follow ? follow_glue_start(fs) : cloud_glue_start(fs)) < 0)
		goto out_store;
	se = fuse_session_new(args,
			      fs->cfg.follow ? follow_glue_ops() : &fs_ops,
			      sizeof(fs_ops), fs);
	if (!se)
		goto out_cloud;
	fs->se = se;
	if (fuse_set_signal_handlers(se) < 0)
		goto out_session;
	if (cloud_glue_watch_signals(fs) < 0)
		log_warn(
			"cannot watch signals: a stop waits for cloud listings");
	/* The metrics listener binds before the mount: a port in use fails
	 * the start with nothing mounted. */
	if (fs_metrics_start(fs) < 0)
		goto out_signals;
	if (fuse_session_mount(se, fs->cfg.mountpoint) < 0) {
		log_error("cannot mount on '%s'", fs->cfg.mountpoint);
		goto out_metrics;
	}
	fs_sync_start(fs);
	fs_nodes_start(&fs->nodes, fs->s, se);
	log_info("mounted store '%s' on '%s'", fs->cfg.store_dir,
		 fs->cfg.mountpoint);
	free(created_dir); /* the store is in use: it stays */
	created_dir = NULL;
	daemon_ready(ready_fd, 0);
	ready_fd = -1;
	notify_state("READY=1", &fs->cfg);
	rc = serve(se, &fs->cfg, single_thread);
	notify_state("STOPPING=1", &fs->cfg);
	fs_nodes_stop(&fs->nodes);
	fs_sync_stop(fs);
	status = rc < 0 ? 1 : 0;
	if (rc < 0)
		log_error("request loop failed: %s", strerror(-rc));
	log_info("unmounting '%s'", fs->cfg.mountpoint);
	fuse_session_unmount(se);
out_metrics:
	fs_metrics_stop(fs);
	fs_files_free(fs);
	fs_dirs_free(fs);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fs->se = NULL;
	fuse_session_destroy(se);
out_cloud:
	cloud_glue_stop(fs);
	follow_glue_stop(fs);
out_store:
	doc_close(fs->doc);
	fs->doc = NULL;
	rc = store_close(fs->s);
	fs->s = NULL;
	if (rc < 0) {
		log_error("cannot close store '%s' cleanly: %s",
			  fs->cfg.store_dir, strerror(-rc));
		status = 1;
	}
out_report:
	if (ready_fd >= 0)
		remove_created(); /* before the parent exits */
	daemon_ready(ready_fd, 1);
	return status;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fs_cmdline cl;
	struct fs fs;
	int status = 1, fd = -1;

	memset(&fs, 0, sizeof(fs));
	pthread_mutex_init(&fs.meta_mu, NULL);
	fs_handles_init(&fs.handles);
	fs_nodes_init(&fs.nodes, &fs.c.retirements);
	fuse_set_log_func(fuse_log_to_ours);
	fs_config_default(&fs.cfg);
	if (fs_config_parse(&args, &fs.cfg, &cl) < 0) {
		fprintf(stderr, "try 'caravanfs --help'\n");
		goto out;
	}
	if (cl.action == FS_HELP) {
		fs_config_help(stdout, "caravanfs");
		status = 0;
		goto out;
	}
	if (cl.action == FS_VERSION) {
		printf("caravanfs %s (libfuse %s)\n", PACKAGE_VERSION,
		       fuse_pkgversion());
		status = 0;
		goto out;
	}
	if (fs.cfg.debug)
		log_set_level(LOG_LVL_DEBUG);
	/* Credentials and documents stay out of core dumps (and out of
	 * reach of ptrace by the same user) unless debugging is asked for. */
	if (!fs.cfg.debug && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("cannot turn core dumps off: %s", strerror(errno));
	if (check_fuse_args(&args) < 0) {
		fprintf(stderr, "try 'caravanfs --help'\n");
		goto out;
	}
	if (prepare_paths(&fs.cfg) < 0 || add_names(&args, &fs.cfg) < 0)
		goto out_created;
	if (!fs.cfg.foreground) {
		fd = daemon_begin();
		if (fd < 0) {
			log_error("cannot start the daemon: %s", strerror(-fd));
			goto out_created;
		}
	}
	status = run(&fs, &args, cl.single_thread, fd);
out_created:
	if (status != 0)
		remove_created(); /* (run removed it before reporting) */
	free(created_dir);
out:
	fuse_opt_free_args(&args);
	fs_config_release(&fs.cfg);
	fs_nodes_release(&fs.nodes);
	pthread_mutex_destroy(&fs.meta_mu);
	fs_handles_release(&fs.handles);
	return status;
}
