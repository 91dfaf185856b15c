/*
 * outq: bytes waiting to go out on a libuv stream, with backpressure. Writes are copied into
 * a chain of blocks; a queue in a batch leaves them there until the batch is flushed (once
 * per loop iteration, from a uv_check handle), so everything written to one socket while
 * handling one round of events (a response head and its body, several frames to one peer)
 * goes out in one uv_try_write, and only what the kernel did not take is written by
 * uv_write. Without a batch a write tries the socket at once. The owner watches outq_bytes()
 * against its high-water mark and gets on_done once the queue empties, to resume reading
 * its source.
 *
 * Block memory must outlive in-flight uv_writes, so outq_free() is called from the stream's
 * close callback (libuv runs every write callback, cancelled, before that).
 */
#ifndef RINGD_OUTQ_H
#define RINGD_OUTQ_H

#include <stddef.h>
#include <uv.h>

/* Smallest block allocated for queued bytes: small writes share one. */
#define OUTQ_BLOCK_BYTES (16u << 10)
/* A written block up to this size is kept as the queue's spare (a socket read's worth). */
#define OUTQ_SPARE_BYTES_MAX (128u << 10)

struct outq_block;
struct outq;

/* Called, from a write callback or a batch flush (never from outq_write), when the queued
 * bytes were all written (status 0) or a write failed (a uv error; the queue then refuses
 * further writes). */
typedef void (*outq_cb)(struct outq *q, int status);

/* Queues with bytes to flush at the end of this loop iteration. */
struct outq_batch {
    struct outq *first;
};

struct outq {
    uv_stream_t *stream; /* NULL until connected: writes queue until outq_attach() */
    struct outq_batch *batch;
    struct outq *bnext, *bprev; /* in batch's list while it has bytes to flush */
    int in_batch;
    struct outq_block *head, *tail;
    size_t bytes; /* queued, not yet taken by the kernel */
    /* NULL, or a sum over several queues of the memory each holds: its queued bytes and its
     * spare block (set after outq_init). */
    size_t *total;
    uv_write_t req;
    int writing;
    int failed; /* a uv error: later writes are dropped */
    outq_cb on_done;
    struct outq_block *spare; /* one written block kept for the next write: no malloc churn */
};

/* |batch| may be NULL: every write then tries the socket at once. */
void outq_init(struct outq *q, outq_cb on_done, struct outq_batch *batch);
/* Writes out every queue of |batch| (errors reach their on_done). */
void outq_batch_flush(struct outq_batch *batch);
/* Starts writing to |stream| (connected); queued bytes go out now. Returns 0 or a uv error. */
int outq_attach(struct outq *q, uv_stream_t *stream);
/* Writes |n| buffers, in order after anything queued. Returns 0, or a uv error when the
 * queue already failed, the write failed or memory ran out (on_done is not called then); in
 * a batch, a write's own failure comes later, through on_done. */
int outq_write(struct outq *q, const uv_buf_t *bufs, unsigned n);
static inline size_t outq_bytes(const struct outq *q)
{
    return q->bytes;
}
/* The memory the queue holds: its queued bytes and its spare block (what outq.total sums). */
size_t outq_held(const struct outq *q);
void outq_free(struct outq *q);

#endif
