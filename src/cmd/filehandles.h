/* The guest-file-open handle table: agent-wide (handles survive reconnects, PROTOCOL.md §6),
 * capped, thread-safe. Pool handlers run concurrently, so the table has a mutex and every handle
 * has its own: two operations on one handle run one after the other, operations on different
 * handles in parallel. Handles are integers from 1000 up, never reused while the agent runs. */
#ifndef GUESTD_FILEHANDLES_H
#define GUESTD_FILEHANDLES_H

#include <stddef.h>
#include <stdint.h>

struct fh;

#define FH_FIRST_ID 1000

/* Adds fd (owned from now on, closed by fh_close), opened from path (copied, for messages), to
 * the table and sets *id. Returns 0, or -EMFILE when max handles are open already, or -ENOMEM
 * (fd is then left to the caller). */
int fh_add(int fd, const char *path, size_t max, int64_t *id);

/* Finds handle id and locks it for one operation: returns NULL when there is no such handle
 * (or it is being closed). Every non-NULL result is given back with fh_release. */
struct fh *fh_acquire(int64_t id);
void fh_release(struct fh *h);
/* The file descriptor of an acquired handle. */
int fh_fd(const struct fh *h);
/* The path it was opened from. */
const char *fh_path(const struct fh *h);

/* Removes handle id from the table, waits for the operation running on it (if any) and closes
 * its fd. Returns 0, -ENOENT when there is no such handle, or close's negative errno. */
int fh_close(int64_t id);

/* Handles in the table now. */
size_t fh_count(void);
/* Closes every handle (shutdown, tests). No operation may be running. */
void fh_close_all(void);

#endif
