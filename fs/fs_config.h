/*
 * fs_config.h - every option of the caravanfs program (fs/options.c parses
 * them into a struct fs_config, fs/options.h).  Plain data: no locks, set
 * before the mount and read-only after.
 */
#ifndef FS_FS_CONFIG_H
#define FS_FS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/* Every option of the program (fs/options.c parses them). */
struct fs_config {
	char *store_dir;
	char *mountpoint;
	/* store */
	uint64_t capacity_bytes;
	bool capacity_set; /* capacity= given: an existing store grows to it */
	uint64_t max_capacity_bytes; /* growth bound; 0 none but the disk */
	uint64_t min_free_bytes; /* STORE_MIN_FREE_AUTO: min(5%, 1 GiB) */
	uint64_t cutover_bytes;
	uint32_t commit_ms;
	bool sync;
	/* documents */
	uint64_t cache_bytes;
	uint64_t max_doc_bytes;
	uint64_t max_patch_bytes;
	uint32_t compact_entries;
	uint32_t compact_ratio;
	uint64_t compact_min_bytes;
	/* cloud */
	char *cloud; /* "none", "dir:/PATH" or "s3://BUCKET/PREFIX" */
	char *s3_endpoint;
	char *s3_region;
	bool s3_path_style;
	uint32_t backup_delay_ms;
	bool cloud_takeover; /* take the prefix's writer lease over */
	uint32_t cloud_lease_ms; /* check the writer lease this often */
	uint64_t retention_ns; /* history kept (0: none; cloud/history.h) */
	/* eviction (fs/cloud_glue.c): off, and the free share of the
	 * store's bound under which it starts */
	bool evict_off;
	uint32_t evict_low_pct;
	/* kernel interface */
	double entry_timeout_s;
	double attr_timeout_s;
	bool direct_io; /* every open direct_io: no page cache */
	uint32_t max_threads; /* FUSE worker threads at most */
	bool close_sync;
	bool read_only; /* -o ro: store opened read-only, no cloud */
	bool allow_other; /* -o allow_other (implies default_permissions) */
	/* memory a client can pin (fs/file.c charges it) */
	uint64_t max_pinned_bytes; /* versions held by open read handles */
	uint64_t max_pending_bytes; /* unfinished values of write handles */
	/* operations */
	char *metrics_file;
	uint32_t metrics_ms;
	char *metrics_listen; /* ADDR:PORT or PORT: serve /metrics over HTTP */
	bool foreground;
	bool debug;
	/* followers (fs/follow_glue.c) */
	bool follow; /* -o follow: read-only follower of cloud= */
	uint32_t follow_poll_ms;
	/* document history: versions kept readable (doc_options.history) */
	uint32_t history;
	/* ... and by age: ns (doc_options.history_age_ns; 0 no bound) */
	uint64_t history_age_ns;
};

#endif
