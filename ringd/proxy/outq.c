/* outq: see outq.h. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "outq.h"

struct outq_block {
    struct outq_block *next;
    size_t len; /* bytes held */
    size_t off; /* bytes already written */
    size_t cap;
    char data[];
};

/* Changes the memory the queue holds in the shared sum (queued bytes and the spare). */
static void total_add(struct outq *q, ptrdiff_t delta)
{
    if (q->total != NULL) {
        *q->total = (size_t)((ptrdiff_t)*q->total + delta);
    }
}

/* Changes the queued bytes, and the shared sum they are part of. */
static void account(struct outq *q, ptrdiff_t delta)
{
    q->bytes = (size_t)((ptrdiff_t)q->bytes + delta);
    total_add(q, delta);
}

static void spare_set(struct outq *q, struct outq_block *b)
{
    if (q->spare != NULL) {
        total_add(q, -(ptrdiff_t)q->spare->cap);
        free(q->spare);
    }
    q->spare = b;
    if (b != NULL) {
        total_add(q, (ptrdiff_t)b->cap);
    }
}

size_t outq_held(const struct outq *q)
{
    return q->bytes + (q->spare != NULL ? q->spare->cap : 0);
}

void outq_init(struct outq *q, outq_cb on_done, struct outq_batch *batch)
{
    memset(q, 0, sizeof(*q));
    q->on_done = on_done;
    q->batch = batch;
    q->req.data = q;
}

/* Done with |b|: kept as the spare if it is a reasonable size and bigger than the spare. */
static void release_block(struct outq *q, struct outq_block *b)
{
    if (b->cap <= OUTQ_SPARE_BYTES_MAX && (q->spare == NULL || q->spare->cap < b->cap)) {
        spare_set(q, b);
    } else {
        free(b);
    }
}

static struct outq_block *new_block(struct outq *q, size_t len)
{
    if (q->spare != NULL && q->spare->cap >= len) {
        struct outq_block *b = q->spare;
        total_add(q, -(ptrdiff_t)b->cap);
        q->spare = NULL;
        return b;
    }
    size_t cap = len > OUTQ_BLOCK_BYTES ? len : OUTQ_BLOCK_BYTES;
    struct outq_block *b = malloc(sizeof(*b) + cap);
    if (b != NULL) {
        b->cap = cap;
    }
    return b;
}

static void batch_add(struct outq *q)
{
    if (q->in_batch) {
        return;
    }
    q->in_batch = 1;
    q->bprev = NULL;
    q->bnext = q->batch->first;
    if (q->bnext != NULL) {
        q->bnext->bprev = q;
    }
    q->batch->first = q;
}

static void batch_remove(struct outq *q)
{
    if (!q->in_batch) {
        return;
    }
    q->in_batch = 0;
    if (q->bprev != NULL) {
        q->bprev->bnext = q->bnext;
    } else {
        q->batch->first = q->bnext;
    }
    if (q->bnext != NULL) {
        q->bnext->bprev = q->bprev;
    }
    q->bnext = q->bprev = NULL;
}

/* Starts a uv_write of the first block unless one is in flight. Returns 0 or a uv error. */
static int flush(struct outq *q);

static void on_written(uv_write_t *req, int status)
{
    struct outq *q = req->data;
    q->writing = 0;
    if (status != 0) {
        q->failed = status;
        if (q->on_done != NULL) {
            q->on_done(q, status);
        }
        return;
    }
    struct outq_block *b = q->head;
    account(q, -(ptrdiff_t)(b->len - b->off));
    q->head = b->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    release_block(q, b);
    int rv = flush(q);
    if ((rv != 0 || q->head == NULL) && q->on_done != NULL) {
        q->on_done(q, rv);
    }
}

static int flush(struct outq *q)
{
    if (q->writing || q->stream == NULL || q->head == NULL) {
        return q->failed;
    }
    struct outq_block *b = q->head;
    uv_buf_t buf = uv_buf_init(b->data + b->off, (unsigned)(b->len - b->off));
    int rv = uv_write(&q->req, q->stream, &buf, 1, on_written);
    if (rv != 0) {
        q->failed = rv;
        return rv;
    }
    q->writing = 1;
    return 0;
}

/* Offers up to 16 queued blocks to the kernel in one uv_try_write and drops what it took.
 * Returns 0 or a uv error other than EAGAIN. */
static int try_queued(struct outq *q)
{
    uv_buf_t bufs[16];
    unsigned n = 0;
    for (struct outq_block *b = q->head; b != NULL && n < 16; b = b->next) {
        bufs[n++] = uv_buf_init(b->data + b->off, (unsigned)(b->len - b->off));
    }
    int rv = uv_try_write(q->stream, bufs, n);
    if (rv < 0) {
        return rv == UV_EAGAIN ? 0 : rv;
    }
    size_t done = (size_t)rv;
    account(q, -(ptrdiff_t)done);
    while (done > 0) {
        struct outq_block *b = q->head;
        size_t left = b->len - b->off;
        if (done < left) {
            b->off += done;
            break;
        }
        done -= left;
        q->head = b->next;
        release_block(q, b);
    }
    if (q->head == NULL) {
        q->tail = NULL;
    }
    return 0;
}

void outq_batch_flush(struct outq_batch *batch)
{
    while (batch->first != NULL) {
        struct outq *q = batch->first;
        batch_remove(q);
        if (q->failed || q->writing || q->stream == NULL || q->head == NULL ||
            uv_is_closing((uv_handle_t *)q->stream)) {
            continue; /* a write in flight, or the connect, flushes the rest */
        }
        int rv = try_queued(q);
        if (rv == 0) {
            rv = flush(q);
        }
        if (rv != 0) {
            q->failed = rv;
        }
        if ((rv != 0 || q->head == NULL) && q->on_done != NULL) {
            q->on_done(q, rv); /* all written at once, or failed */
        }
    }
}

int outq_attach(struct outq *q, uv_stream_t *stream)
{
    q->stream = stream;
    return flush(q);
}

/* Copies |len| bytes to the end of the chain. */
static int append(struct outq *q, const char *p, size_t len)
{
    struct outq_block *t = q->tail;
    /* Never append into the block being written: uv_write holds its pointer and length. */
    if (t != NULL && t->cap - t->len >= len && !(q->writing && t == q->head)) {
        memcpy(t->data + t->len, p, len);
        t->len += len;
        account(q, (ptrdiff_t)len);
        return 0;
    }
    struct outq_block *b = new_block(q, len);
    if (b == NULL) {
        return UV_ENOMEM;
    }
    b->next = NULL;
    b->len = len;
    b->off = 0;
    memcpy(b->data, p, len);
    if (t != NULL) {
        t->next = b;
    } else {
        q->head = b;
    }
    q->tail = b;
    account(q, (ptrdiff_t)len);
    return 0;
}

int outq_write(struct outq *q, const uv_buf_t *bufs, unsigned n)
{
    if (q->failed) {
        return q->failed;
    }
    size_t done = 0;
    if (q->head == NULL && !q->writing && q->stream != NULL && q->batch == NULL) {
        int rv = uv_try_write(q->stream, bufs, n);
        if (rv < 0 && rv != UV_EAGAIN) {
            q->failed = rv;
            return rv;
        }
        done = rv > 0 ? (size_t)rv : 0;
    }
    for (unsigned i = 0; i < n; i++) {
        size_t len = bufs[i].len;
        if (done >= len) {
            done -= len;
            continue;
        }
        int rv = append(q, bufs[i].base + done, len - done);
        done = 0;
        if (rv != 0) {
            q->failed = rv;
            return rv;
        }
    }
    if (q->batch != NULL) {
        batch_add(q);
        return 0;
    }
    return flush(q);
}

void outq_free(struct outq *q)
{
    if (q->batch != NULL) {
        batch_remove(q);
    }
    while (q->head != NULL) {
        struct outq_block *b = q->head;
        q->head = b->next;
        free(b);
    }
    q->tail = NULL;
    account(q, -(ptrdiff_t)q->bytes);
    spare_set(q, NULL);
}
