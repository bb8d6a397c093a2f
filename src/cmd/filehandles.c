/* The guest-file-open handle table (see filehandles.h).
 *
 * Locking: the table mutex guards the array and every handle's refs; a handle's own mutex is
 * held for the length of one operation. Lock order: never take the table mutex while holding a
 * handle's, except in fh_release after dropping it. A handle removed from the table is freed by
 * whoever drops its last reference. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/filehandles.h"

struct fh {
	int64_t id;
	int fd;
	char *path;
	unsigned refs;        /* table mutex */
	bool closed;          /* removed from the table; fd closed or about to be */
	pthread_mutex_t lock;  /* held by the operation in progress */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fh **table;      /* sorted by id (ids only grow, so appending keeps it sorted) */
static size_t table_len, table_cap;
static int64_t next_id = FH_FIRST_ID;

/* Index of id in the table, or table_len. Table mutex held. */
static size_t find(int64_t id)
{
	size_t lo = 0, hi = table_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (table[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < table_len && table[lo]->id == id ? lo : table_len;
}

static void remove_at(size_t i)
{
	memmove(&table[i], &table[i + 1], (table_len - i - 1) * sizeof table[0]);
	table_len--;
	if (table_len == 0) {
		free(table);
		table = NULL;
		table_cap = 0;
	}
}

static void fh_free(struct fh *h)
{
	pthread_mutex_destroy(&h->lock);
	free(h->path);
	free(h);
}

int fh_add(int fd, const char *path, size_t max, int64_t *id)
{
	struct fh *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->path = strdup(path);
	if (!h->path || pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h->path);
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_lock(&table_lock);
	int r = 0;
	if (table_len >= max) {
		r = -EMFILE;
	} else if (table_len == table_cap) {
		size_t cap = table_cap ? table_cap * 2 : 16;
		struct fh **nt = realloc(table, cap * sizeof *nt);
		if (nt) {
			table = nt;
			table_cap = cap;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0) {
		h->id = next_id++;
		table[table_len++] = h;
		*id = h->id;
	}
	pthread_mutex_unlock(&table_lock);
	if (r < 0)
		fh_free(h);
	return r;
}

struct fh *fh_acquire(int64_t id)
{
	pthread_mutex_lock(&table_lock);
	size_t i = find(id);
	struct fh *h = i < table_len ? table[i] : NULL;
	if (h)
		h->refs++;
	pthread_mutex_unlock(&table_lock);
	if (!h)
		return NULL;
	pthread_mutex_lock(&h->lock);
	if (h->closed) {
		/* closed while we waited for the operation before us */
		fh_release(h);
		return NULL;
	}
	return h;
}

void fh_release(struct fh *h)
{
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&table_lock);
	bool last = --h->refs == 0 && h->closed;
	pthread_mutex_unlock(&table_lock);
	if (last)
		fh_free(h);
}

int fh_fd(const struct fh *h)
{
	return h->fd;
}

const char *fh_path(const struct fh *h)
{
	return h->path;
}

int fh_close(int64_t id)
{
	pthread_mutex_lock(&table_lock);
	size_t i = find(id);
	struct fh *h = i < table_len ? table[i] : NULL;
	if (h) {
		remove_at(i);
		h->refs++;
	}
	pthread_mutex_unlock(&table_lock);
	if (!h)
		return -ENOENT;
	pthread_mutex_lock(&h->lock);   /* let the running operation finish */
	h->closed = true;
	int r = close(h->fd) < 0 && errno != EINTR ? -errno : 0;
	h->fd = -1;
	fh_release(h);
	return r;
}

size_t fh_count(void)
{
	pthread_mutex_lock(&table_lock);
	size_t n = table_len;
	pthread_mutex_unlock(&table_lock);
	return n;
}

void fh_close_all(void)
{
	for (;;) {
		pthread_mutex_lock(&table_lock);
		int64_t id = table_len ? table[0]->id : -1;
		pthread_mutex_unlock(&table_lock);
		if (id < 0)
			break;
		fh_close(id);
	}
}
