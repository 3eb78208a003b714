/*
 * target_internal.h - what the target kinds (cloud/dir.c, cloud/s3.c)
 * share with cloud/target.c.  Not included outside cloud/ but by tests.
 */
#ifndef CLOUD_TARGET_INTERNAL_H
#define CLOUD_TARGET_INTERNAL_H

#include "cloud/target.h"

#include <pthread.h>

struct cloud_target_ops {
	int (*put)(struct cloud_target *t, const char *space, const char *key,
		   const void *buf, size_t len, uint64_t seq);
	/* put only when absent (-EEXIST); NULL: put */
	int (*put_new)(struct cloud_target *t, const char *space,
		       const char *key, const void *buf, size_t len,
		       uint64_t seq);
	int (*get)(struct cloud_target *t, const char *space, const char *key,
		   void **buf, size_t *len, uint64_t *seq);
	int (*head)(struct cloud_target *t, const char *space, const char *key,
		    struct cloud_object_info *info);
	int (*put_doc)(struct cloud_target *t, const char *space,
		       const char *key, const void *body, size_t len,
		       const struct cloud_doc_meta *meta);
	int (*get_doc)(struct cloud_target *t, const char *space,
		       const char *key, void **body, size_t *len,
		       struct cloud_doc_meta *meta);
	int (*head_doc)(struct cloud_target *t, const char *space,
			const char *key, struct cloud_doc_meta *meta,
			uint64_t *size);
	int (*del)(struct cloud_target *t, const char *space, const char *key);
	int (*list)(struct cloud_target *t, const char *space,
		    const char *token, char **next, cloud_name_fn fn,
		    void *arg);
	void (*destroy)(struct cloud_target *t);
};

/* The common part, first member of each kind's struct. */
struct cloud_target {
	const struct cloud_target_ops *ops;
	char *url;
	struct cloud_retry_policy retry;
	void (*sleep_ms)(void *arg, uint32_t ms);
	void *sleep_arg;
	uint32_t list_max_pages;
	uint64_t list_max_names, list_max_bytes;
	pthread_mutex_t lock; /* guards interrupted, lists_interrupted, rng */
	pthread_cond_t wake;
	bool interrupted;
	bool lists_interrupted;
	uint64_t rng;
};

int cloud_target_base_init(struct cloud_target *t,
			   const struct cloud_target_ops *ops, const char *url,
			   const struct cloud_options *o);
void cloud_target_base_release(struct cloud_target *t);

/* The full-jitter delay after failed attempt number attempt (0-based). */
uint32_t cloud_target_backoff_ms(struct cloud_target *t, uint32_t attempt);
/* Sleep ms; -ECANCELED when interrupted (before or during), or, for a
 * listing, when listings are. */
int cloud_target_sleep(struct cloud_target *t, uint32_t ms, bool listing);
bool cloud_target_interrupted(struct cloud_target *t);
/* Whether a listing must stop now (either interrupt). */
bool cloud_target_lists_interrupted(struct cloud_target *t);

int cloud_dir_open(const char *path, const struct cloud_options *o,
		   const char *url, struct cloud_target **out);
int cloud_s3_open(const char *bucket, const char *prefix,
		  const struct cloud_options *o, const char *url,
		  struct cloud_target **out);

#endif
