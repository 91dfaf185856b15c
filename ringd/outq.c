/* outq: see outq.h. */
#include "outq.h"

#include <stdlib.h>
#include <string.h>

struct outq_block {
    struct outq_block *next;
    size_t len; /* bytes held */
    size_t off; /* bytes already written */
    size_t cap;
    char data[];
};

void outq_init(struct outq *q, outq_cb on_done)
{
    memset(q, 0, sizeof(*q));
    q->on_done = on_done;
    q->req.data = q;
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
    q->bytes -= b->len - b->off;
    q->head = b->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    free(b);
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
        q->bytes += len;
        return 0;
    }
    size_t cap = len > OUTQ_BLOCK_BYTES ? len : OUTQ_BLOCK_BYTES;
    struct outq_block *b = malloc(sizeof(*b) + cap);
    if (b == NULL) {
        return UV_ENOMEM;
    }
    b->next = NULL;
    b->len = len;
    b->off = 0;
    b->cap = cap;
    memcpy(b->data, p, len);
    if (t != NULL) {
        t->next = b;
    } else {
        q->head = b;
    }
    q->tail = b;
    q->bytes += len;
    return 0;
}

int outq_write(struct outq *q, const uv_buf_t *bufs, unsigned n)
{
    if (q->failed) {
        return q->failed;
    }
    size_t done = 0;
    if (q->head == NULL && !q->writing && q->stream != NULL) {
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
    return flush(q);
}

void outq_free(struct outq *q)
{
    while (q->head != NULL) {
        struct outq_block *b = q->head;
        q->head = b->next;
        free(b);
    }
    q->tail = NULL;
    q->bytes = 0;
}
