/*
 * swim_sync: the stream side of swim, request/response pairs the caller carries over TCP.
 *
 * Push-pull sync (anti-entropy, memberlist's pushPull). The initiator sends its whole table
 * (CODEC_SYNC), the other side merges it and answers (CODEC_SYNC_REPLY) with the records of
 * its own that the request did not hold in the same version, which the initiator merges; a
 * join gets the whole table, and when the request's checksum equals ours after the merge the
 * reply holds no records. A pull sends only our record and a have (one 4-byte term per record
 * we hold) and is answered with what the have does not list; the side that answers a pull
 * listing records it lacks pulls back. Merging is record by record through
 * swim__apply_update(), the same rules as gossip: a record that says we are suspect or
 * faulty makes us refute, and a record that says a member is alive wins only by
 * precedence. A sync starts
 *   - on join, to one seed (a random one first), the next at once when it fails, and after
 *     a round of them all an exponential backoff;
 *   - to catch up with a seed once joined, while the cluster forms around us (proto/SWIM.md,
 *     "Cold start"): a pull asked as a join is;
 *   - every sync_interval, with one random live member;
 *   - when a ping or ack shows a checksum different from ours while neither side has
 *     updates in flight (ringpop's trigger), at most once per SWIM_MISMATCH_SYNC_PERIODS: a
 *     pull;
 *   - every heal_interval, with a random faulty member (not yet a tombstone), or when there
 *     is none, a seed that is not a live member: two halves of a healed partition meet.
 *
 * Stream ping (memberlist's TCP fallback): CODEC_STREAM_PING to the target of a probe that
 * went indirect, answered by CODEC_STREAM_ACK with the probe's seq.
 *
 * Sizes: a push-pull is the whole table, so it is bounded by members_max records; its buffer
 * grows to the table's size, never past CODEC_FRAME_BYTES_MAX. A pull's have is 4 bytes a
 * record.
 */
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "mem_int.h"
#include "members_int.h"
#include "swim_int.h"

/* The first catch-up waits this many protocol periods after the join (and about as many
 * again at random): time for the joiners of a cold start to reach the seeds. */
#define CATCHUP_DELAY_PERIODS 2
/* How long after a join, or a catch-up that brought members, a member heard of from gossip
 * means the cluster is still forming: the joiners of a cold start arrive within a second or
 * two (ringsim's join scenario: one second), and a catch-up then brings the rest. */
#define FORMING_PERIODS 10

static uint64_t catchup_delay(struct swim *s);
static void catchup_answered(struct swim *s, int grew);

/* ---- the stream table ---- */

static struct swim_stream *stream_alloc(struct swim *s, uint8_t kind, const struct ring_addr *to)
{
    struct swim_stream *free_slot = NULL;
    for (size_t i = 0; i < SWIM_STREAMS_MAX; i++) {
        struct swim_stream *st = &s->streams[i];
        if (!st->used) {
            free_slot = free_slot != NULL ? free_slot : st;
        } else if (st->kind == kind && ring_addr_equal(&st->to, to) && kind != SWIM_STREAM_PING) {
            return NULL; /* one sync per peer at a time */
        }
    }
    if (free_slot == NULL) {
        return NULL;
    }
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->used = 1;
    s->stream_count++;
    free_slot->kind = kind;
    free_slot->token = s->token_next++;
    if (s->token_next == 0) {
        s->token_next = 1;
    }
    free_slot->to = *to;
    free_slot->expire_ms = UINT64_MAX;
    return free_slot;
}

static struct swim_stream *stream_find(struct swim *s, uint32_t token)
{
    for (size_t i = 0; i < SWIM_STREAMS_MAX && s->stream_count > 0; i++) {
        struct swim_stream *st = &s->streams[i];
        if (st->used && st->sent && st->token == token) {
            return st;
        }
    }
    return NULL;
}

int swim__sync_start(struct swim *s, const struct ring_addr *to, uint8_t kind)
{
    return stream_alloc(s, kind, to) != NULL ? 0 : RING_EAGAIN;
}

int swim__stream_ping_start(struct swim *s, const struct ring_addr *to, const char *target,
                            size_t target_len, uint32_t seq)
{
    struct swim_stream *st = stream_alloc(s, SWIM_STREAM_PING, to);
    if (st == NULL) {
        return RING_EAGAIN;
    }
    st->seq = seq;
    memcpy(st->target, target, target_len);
    st->target_len = (uint8_t)target_len;
    return 0;
}

/* ---- encoding ---- */

static void sync_header(const struct swim *s, uint8_t type, uint8_t join, struct codec_sync *hdr)
{
    memset(hdr, 0, sizeof(*hdr));
    hdr->type = type;
    hdr->join = join;
    memcpy(hdr->from, s->self.id, s->self.id_len + 1);
    hdr->from_len = s->self.id_len;
    hdr->checksum = swim__checksum_now(s);
}

static ssize_t encode_sync(struct swim *s, uint8_t type, uint8_t join, uint8_t *buf, size_t cap)
{
    struct codec_sync hdr;
    sync_header(s, type, join, &hdr);
    return codec_encode_sync(buf, cap, &hdr, s->table);
}

/* Encodes |hdr| and |t| into the stream buffer, sized for it at once (codec_sync_size()). */
static ssize_t encode_sync_hdr_buf(struct swim *s, const struct codec_sync *hdr,
                                   const struct members *t)
{
    size_t want = codec_sync_size(hdr, t);
    if (want > CODEC_FRAME_BYTES_MAX) {
        return RING_EMSGSIZE;
    }
    uint8_t *b = swim__grow(s, s->stream_buf, &s->stream_buf_cap, want, 1, CODEC_FRAME_BYTES_MAX);
    if (b == NULL) {
        return RING_EMSGSIZE;
    }
    s->stream_buf = b;
    return codec_encode_sync(s->stream_buf, s->stream_buf_cap, hdr, t);
}

/* Encodes a sync of |t| into the stream buffer. */
static ssize_t encode_sync_buf(struct swim *s, uint8_t join, const struct members *t)
{
    struct codec_sync hdr;
    sync_header(s, CODEC_SYNC, join, &hdr);
    return encode_sync_hdr_buf(s, &hdr, t);
}

/* Sorts |n| terms: four byte-wide counting passes through |tmp| (n entries) rather than
 * qsort(), which took a sixteenth of ringsim's time in a 3,000-node cold start. */
static void terms_sort(uint32_t *terms, uint32_t *tmp, size_t n)
{
    uint32_t *from = terms;
    uint32_t *to = tmp;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++) {
            count[((from[i] >> shift) & 0xff) + 1]++;
        }
        for (size_t b = 1; b < 257; b++) {
            count[b] += count[b - 1];
        }
        for (size_t i = 0; i < n; i++) {
            to[count[(from[i] >> shift) & 0xff]++] = from[i];
        }
        uint32_t *t = from;
        from = to;
        to = t;
    }
    /* Four passes: the sorted terms are back in |terms|. */
}

/* Sorts |n| terms and writes them as a have's bytes, in place (each term is read before its
 * bytes are written). RING_ENOMEM when the sort's scratch cannot be had. */
static int have_encode(struct swim *s, uint32_t *terms, size_t n)
{
    if (n > 1) {
        uint32_t *tmp = ring__mallocarray(&s->mem, n, sizeof(*tmp));
        if (tmp == NULL) {
            return RING_ENOMEM;
        }
        terms_sort(terms, tmp, n);
        ring__free(&s->mem, tmp);
    }
    uint8_t *b = (uint8_t *)terms;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = terms[i];
        b[4 * i] = (uint8_t)(v >> 24);
        b[4 * i + 1] = (uint8_t)(v >> 16);
        b[4 * i + 2] = (uint8_t)(v >> 8);
        b[4 * i + 3] = (uint8_t)v;
    }
    return 0;
}

/* The have of our table (proto/PROTOCOL.md, section 3, "have"): each record's term,
 * ascending, big-endian, in |*out| (allocated from s->mem; the caller frees it). */
static int have_of_table(struct swim *s, uint8_t **out, uint32_t *count)
{
    size_t n = members_count(s->table);
    uint32_t *terms = ring__mallocarray(&s->mem, n > 0 ? n : 1, sizeof(*terms));
    if (terms == NULL) {
        return RING_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        terms[i] = codec_have_term(members__record_digest(s->table, i));
    }
    int rv = have_encode(s, terms, n);
    if (rv != 0) {
        ring__free(&s->mem, terms);
        return rv;
    }
    *out = (uint8_t *)terms;
    *count = (uint32_t)n;
    return 0;
}

/* A sync that pulls: a catch-up (|join| 1) or a checksum mismatch's sync. It tells the peer
 * only about us (a catch-up's seed heard of the others from their joins; a mismatch is seen
 * from both ends, and the peer pulls what it lacks from us in turn), and lists what we hold
 * (the have, 4 bytes a record), so that the peer answers with only the records we lack or
 * hold in another version. ringsim's cold start of 3,000 nodes: a whole table is ~80 KB,
 * the have ~12 KB, and three sync bytes in five went to push-pulls of whole tables before. */
static ssize_t encode_have_buf(struct swim *s, uint8_t join)
{
    struct members *self_only;
    struct codec_sync hdr;
    uint8_t *have = NULL;
    sync_header(s, CODEC_SYNC, join, &hdr);
    int rv = have_of_table(s, &have, &hdr.have_count);
    hdr.has_have = 1;
    hdr.have = have;
    if (rv == 0) {
        rv = members_new(&self_only, 1, &s->mem);
        if (rv == 0) {
            rv = members_put(self_only, &s->self);
        }
    }
    ssize_t n = rv;
    if (rv == 0) {
        n = encode_sync_hdr_buf(s, &hdr, self_only);
        members_del(self_only);
    }
    ring__free(&s->mem, have);
    return n;
}

/* The previous request's data is no longer valid: a sync-sized buffer (1 MB at 10,000
 * members) is given back rather than kept by every node. */
static void stream_buf_release(struct swim *s)
{
    if (s->stream_buf_cap > SWIM_STREAM_BUF_BYTES_MIN) {
        s->mem.free(s->stream_buf, s->mem.user_data);
        s->stream_buf = NULL;
        s->stream_buf_cap = 0;
    }
}

static ssize_t encode_ping(struct swim *s, const struct swim_stream *st)
{
    struct codec_msg *msg = s->msg;
    memset(msg, 0, offsetof(struct codec_msg, updates));
    msg->type = CODEC_STREAM_PING;
    msg->seq = st->seq;
    memcpy(msg->from, s->self.id, s->self.id_len + 1);
    msg->from_len = s->self.id_len;
    memcpy(msg->target, st->target, st->target_len);
    msg->target[st->target_len] = '\0';
    msg->target_len = st->target_len;
    if (s->stream_buf_cap < SWIM_STREAM_BUF_BYTES_MIN) {
        uint8_t *b = swim__grow(s, s->stream_buf, &s->stream_buf_cap, SWIM_STREAM_BUF_BYTES_MIN, 1,
                                CODEC_FRAME_BYTES_MAX);
        if (b == NULL) {
            return RING_ENOMEM;
        }
        s->stream_buf = b;
    }
    return codec_encode(s->stream_buf, s->stream_buf_cap, msg);
}

static ssize_t encode_request(struct swim *s, const struct swim_stream *st)
{
    switch (st->kind) {
    case SWIM_STREAM_PING:
        return encode_ping(s, st);
    case SWIM_STREAM_CATCHUP:
        return encode_have_buf(s, 1);
    case SWIM_STREAM_PULL:
        return encode_have_buf(s, 0);
    default:
        return encode_sync_buf(s, st->kind == SWIM_STREAM_JOIN, s->table);
    }
}

static void join_failed(struct swim *s)
{
    if (s->join_inflight > 0) {
        s->join_inflight--;
    }
    /* The next seed at once, until each of this round's has been tried; then the backoff. */
    if (!s->joined && s->join_round_tries < s->seed_count) {
        s->join_next_ms = s->now_ms;
    }
}

/* A seed answered our join sync: we are joined. When its table did not hold us (its budget
 * for joiners was spent), others have not heard of us from it: a catch-up sync later, at
 * the backoff's pace, asks a seed again and carries our record once more. */
static void join_answered(struct swim *s, int ok)
{
    if (!ok) {
        join_failed(s);
        return;
    }
    if (s->join_inflight > 0) {
        s->join_inflight--;
    }
    s->joined = 1;
    s->join_next_ms = UINT64_MAX;
    s->catchup_wanted |= !s->join_admitted;
    s->catchup_next_ms = s->now_ms + catchup_delay(s);
    s->forming_until_ms = s->now_ms + (uint64_t)s->cfg.probe_interval_ms * FORMING_PERIODS;
}

/* A stream that will never complete: free it, and let join (the next seed) or catch-up
 * retry. */
static void stream_drop(struct swim *s, struct swim_stream *st)
{
    if (st->kind == SWIM_STREAM_JOIN) {
        join_failed(s);
    } else if (st->kind == SWIM_STREAM_CATCHUP) {
        s->catchup_inflight = 0;
    }
    st->used = 0;
    s->stream_count--;
}

int swim_stream_next(struct swim *s, struct swim_stream_req *out)
{
    stream_buf_release(s);
    /* Oldest first: the smallest token not yet handed out (tokens only wrap after 2^32). */
    for (;;) {
        struct swim_stream *st = NULL;
        for (size_t i = 0; i < SWIM_STREAMS_MAX && s->stream_count > 0; i++) {
            struct swim_stream *c = &s->streams[i];
            if (c->used && !c->sent && (st == NULL || c->token < st->token)) {
                st = c;
            }
        }
        if (st == NULL) {
            return 0;
        }
        ssize_t n = encode_request(s, st);
        if (n < 0) {
            stream_drop(s, st);
            continue;
        }
        st->sent = 1;
        st->expire_ms = s->now_ms + (uint64_t)s->cfg.probe_interval_ms * SWIM_STREAM_EXPIRE_PERIODS;
        out->token = st->token;
        out->to = st->to;
        out->data = s->stream_buf;
        out->len = (size_t)n;
        s->stats.stream_bytes_out += (uint64_t)n;
        return 1;
    }
}

/* ---- merging a sync ---- */

/* The terms of the records a push-pull request carried (its implicit have): the reply then
 * holds only what the request lacked. |failed|: out of memory, the reply is the whole
 * table. */
struct sync_terms {
    uint32_t *v;
    size_t n;
    size_t cap;
    int failed;
};

struct merge {
    struct swim *s;
    const struct codec_sync *hdr;
    const struct ring_addr *from; /* a request's peer; NULL for a reply */
    struct sync_terms *terms;     /* NULL: not collected */
};

static void collect_term(struct swim *s, struct sync_terms *t, const struct member *m)
{
    if (t->failed) {
        return;
    }
    uint32_t *v = swim__grow(s, t->v, &t->cap, t->n + 1, sizeof(*v), MEMBERS_MAX);
    if (v == NULL) {
        t->failed = 1;
        return;
    }
    t->v = v;
    t->v[t->n++] = codec_have_term(
        members__digest(m->id, m->id_len, &m->addr, m->status, m->flags, m->incarnation));
}

static void merge_member(const struct member *m, void *arg)
{
    struct merge *mg = arg;
    struct swim *s = mg->s;
    if (mg->from != NULL && mg->hdr->join) {
        s->joiner_id = mg->hdr->from;
        s->joiner_id_len = mg->hdr->from_len;
        s->joiner_from = mg->from;
    }
    if (s->admit_mode == SWIM_ADMIT_JOIN && swim__is_self(s, m->id, m->id_len)) {
        s->join_admitted = 1; /* the seed holds us: others hear of us from it */
    }
    if (mg->terms != NULL) {
        collect_term(s, mg->terms, m);
    }
    (void)swim__apply_update(s, m, NULL, 0);
}

/* Merges a sync of |want_type|. Its length is checked against |len_max|
 * (swim_stream_bytes_max()) before anything is decoded; new members are admitted in |mode|
 * (enum swim_admit). */
static int merge_sync(struct swim *s, const struct ring_addr *from, size_t len_max, uint8_t mode,
                      const uint8_t *buf, size_t len, uint8_t want_type, struct codec_sync *hdr,
                      struct sync_terms *terms)
{
    if (len > len_max) {
        s->stats.syncs_refused++;
        return RING_EMSGSIZE;
    }
    int rv = codec_peek_type(buf, len);
    if (rv >= 0 && rv != want_type) {
        rv = RING_EPROTO;
    }
    if (rv >= 0) {
        struct merge mg = { s, hdr, from, terms };
        s->admit_mode = mode;
        rv = codec_decode_sync(buf, len, hdr, merge_member, &mg);
        s->admit_mode = SWIM_ADMIT_STRANGER;
        s->joiner_id = NULL;
    }
    if (rv < 0) {
        s->stats.decode_errors++;
        return rv;
    }
    s->stats.syncs++;
    return 0;
}

/* The debug event of a merged sync with |peer| (swim_config.debug_events): the members that
 * are new to us since the table held |before|, as merging never reaps. */
static void synced(struct swim *s, const struct codec_sync *hdr, const struct ring_addr *peer,
                   int served, size_t before)
{
    if (!s->cfg.debug_events) {
        return;
    }
    struct member m;
    memset(&m, 0, sizeof(m));
    memcpy(m.id, hdr->from, hdr->from_len);
    m.id_len = hdr->from_len;
    m.addr = *peer;
    struct swim_event *e = swim__event(s, SWIM_EVENT_SYNCED, 0, &m);
    if (e != NULL) {
        size_t after = members_count(s->table);
        e->served = (uint8_t)served;
        e->count = after > before ? (uint32_t)(after - before) : 0;
    }
}

int swim_stream_response(struct swim *s, uint32_t token, const uint8_t *buf, size_t len,
                         uint64_t now_ms)
{
    s->now_ms = now_ms;
    struct swim_stream *st = stream_find(s, token);
    if (st == NULL) {
        return RING_ENOENT;
    }
    size_t len_max = swim_stream_bytes_max(s, token);
    struct swim_stream done = *st;
    st->used = 0;
    s->stream_count--;
    s->stats.stream_bytes_in += len;
    if (done.kind == SWIM_STREAM_PING) {
        int rv = codec_decode(buf, len, s->msg);
        if (rv == 0 && (s->msg->type != CODEC_STREAM_ACK || s->msg->seq != done.seq)) {
            rv = RING_EPROTO;
        }
        if (rv != 0) {
            s->stats.decode_errors++;
            return rv;
        }
        swim__probe_acked(s, done.seq, 0);
        return 0;
    }
    struct codec_sync hdr;
    int join = done.kind == SWIM_STREAM_JOIN;
    int exempt = join || done.kind == SWIM_STREAM_CATCHUP;
    uint8_t mode = exempt ? SWIM_ADMIT_JOIN : swim__admit_mode_of(s, &done.to, NULL, 0, 0);
    s->join_admitted = 0;
    size_t before = members_count(s->table);
    int rv = merge_sync(s, NULL, len_max, mode, buf, len, CODEC_SYNC_REPLY, &hdr, NULL);
    if (rv == 0) {
        synced(s, &hdr, &done.to, 0, before);
    }
    if (join) {
        join_answered(s, rv == 0);
    } else if (done.kind == SWIM_STREAM_CATCHUP) {
        catchup_answered(s, members_count(s->table) > before);
    }
    return rv;
}

int swim_stream_failed(struct swim *s, uint32_t token, uint64_t now_ms)
{
    s->now_ms = now_ms;
    struct swim_stream *st = stream_find(s, token);
    if (st == NULL) {
        return RING_ENOENT;
    }
    stream_drop(s, st);
    return 0;
}

/* ---- serving ---- */

/* The records of our table that |req|'s have does not list: those its sender lacks, or
 * holds in another version (a term is the record's digest, so an older incarnation or
 * another status differs). Allocated from s->mem into |*out|; |*listed| counts our records
 * the have lists. */
static int missing_from_have(struct swim *s, const struct codec_sync *req, struct members **out,
                             size_t *listed)
{
    size_t n = members_count(s->table);
    uint8_t *lacks = ring__mallocarray(&s->mem, n > 0 ? n : 1, 1);
    if (lacks == NULL) {
        return RING_ENOMEM;
    }
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t term = codec_have_term(members__record_digest(s->table, i));
        lacks[i] = (uint8_t)!codec_sync_have_has(req, term);
        want += lacks[i];
    }
    *listed = n - want;
    int rv = members_new(out, want, &s->mem);
    struct member m;
    for (size_t i = 0; i < n && rv == 0; i++) {
        if (lacks[i]) {
            members_get(s->table, i, &m);
            rv = members_put(*out, &m);
        }
    }
    ring__free(&s->mem, lacks);
    if (rv != 0 && *out != NULL) {
        members_del(*out);
        *out = NULL;
    }
    return rv;
}

/* A pull's sender holds records we do not (its have lists more than the records of ours it
 * matched): we pull from it in turn, as a push-pull would have pushed them to us. Not after
 * a catch-up: a seed learns of the joiners from their own joins and gossip, and a cold
 * start's every node asks it. At most once per probe interval: two nodes that each hold a
 * record the other refuses (a stranger over the budget, say) would otherwise pull from each
 * other without end. (The mismatch syncs' pace, once per 5 intervals, made ringsim's cold
 * start of 1,000 nodes converge in 4.0 s rather than 2.7 s, seeds 1 to 5.) */
static void pull_back(struct swim *s, const struct codec_sync *req, size_t listed)
{
    if (req->join || req->have_count <= listed || s->now_ms < s->pull_back_next_ms) {
        return;
    }
    int idx = members_index(s->table, req->from, req->from_len);
    if (idx >= 0 && swim__is_live_peer(s, (size_t)idx) &&
        swim__sync_start(s, members_addr(s->table, (size_t)idx), SWIM_STREAM_PULL) == 0) {
        s->pull_back_next_ms = s->now_ms + s->cfg.probe_interval_ms;
    }
}

/* The reply to a sync: none of our table when the sender's checksum equals ours after the
 * merge (the sender then holds what we hold: a catch-up that finds the cluster formed, or a
 * periodic sync between two nodes that agree, costs a header, not a table); else the records
 * the sender's have does not list, or, for a push-pull, those its own table (|pushed|) did
 * not carry; the whole table only when |pushed| could not be collected. */
static ssize_t encode_reply(struct swim *s, const struct codec_sync *req, struct sync_terms *pushed,
                            uint8_t *resp, size_t cap)
{
    int same = req->checksum == swim__checksum_now(s);
    struct codec_sync want = *req;
    if (!req->has_have && !req->join && !pushed->failed &&
        have_encode(s, pushed->v, pushed->n) == 0) {
        want.has_have = 1;
        want.have_count = (uint32_t)pushed->n;
        want.have = (const uint8_t *)pushed->v;
    }
    if (!same && !want.has_have) {
        return encode_sync(s, CODEC_SYNC_REPLY, 0, resp, cap);
    }
    struct members *part = NULL;
    size_t listed = 0;
    int rv = same ? members_new(&part, 1, &s->mem) : missing_from_have(s, &want, &part, &listed);
    if (rv != 0) {
        return rv;
    }
    struct codec_sync hdr;
    sync_header(s, CODEC_SYNC_REPLY, 0, &hdr);
    ssize_t n = codec_encode_sync(resp, cap, &hdr, part);
    members_del(part);
    if (n >= 0 && !same && req->has_have) {
        pull_back(s, req, listed);
    }
    return n;
}

static ssize_t serve_ping(struct swim *s, const uint8_t *req, size_t len, uint8_t *resp, size_t cap)
{
    struct codec_msg *msg = s->msg;
    int rv = codec_decode(req, len, msg);
    if (rv != 0) {
        s->stats.decode_errors++;
        return rv;
    }
    if (msg->target_len > 0 && !swim__is_self(s, msg->target, msg->target_len)) {
        return RING_ENOENT; /* probing whoever had our address before */
    }
    uint32_t seq = msg->seq;
    memset(msg, 0, offsetof(struct codec_msg, updates));
    msg->type = CODEC_STREAM_ACK;
    msg->seq = seq;
    memcpy(msg->from, s->self.id, s->self.id_len + 1);
    msg->from_len = s->self.id_len;
    ssize_t n = codec_encode(resp, cap, msg);
    return n == RING_EMSGSIZE ? RING_ENOBUFS : n;
}

ssize_t swim_stream_serve(struct swim *s, const struct ring_addr *from, const uint8_t *req,
                          size_t len, uint8_t *resp, size_t cap, uint64_t now_ms)
{
    s->now_ms = now_ms;
    s->stats.stream_bytes_in += len;
    int type = codec_peek_type(req, len);
    ssize_t n;
    if (type == CODEC_STREAM_PING) {
        n = serve_ping(s, req, len, resp, cap);
    } else if (type == CODEC_SYNC) {
        struct codec_sync hdr;
        struct sync_terms pushed = { NULL, 0, 0, 0 };
        size_t before = members_count(s->table);
        int rv = merge_sync(s, from, swim_stream_bytes_max(s, 0),
                            swim__admit_mode_of(s, from, NULL, 0, 1), req, len, CODEC_SYNC, &hdr,
                            &pushed);
        if (rv != 0) {
            n = rv;
        } else {
            synced(s, &hdr, from, 1, before);
            n = encode_reply(s, &hdr, &pushed, resp, cap);
            n = n == RING_EMSGSIZE ? RING_ENOBUFS : n;
        }
        ring__free(&s->mem, pushed.v);
    } else {
        s->stats.decode_errors++;
        n = type < 0 ? type : RING_EPROTO;
    }
    if (n > 0) {
        s->stats.stream_bytes_out += (uint64_t)n;
    }
    return n;
}

/* ---- join ---- */

int swim_join(struct swim *s, const struct ring_addr *seeds, size_t n, uint64_t now_ms)
{
    s->now_ms = now_ms;
    if (n > SWIM_SEEDS_MAX) {
        return RING_E2BIG;
    }
    if (seeds == NULL && n > 0) {
        return RING_EINVAL;
    }
    s->seed_count = 0;
    memset(s->seed_hint, 0, sizeof(s->seed_hint));
    for (size_t i = 0; i < n; i++) {
        if (seeds[i].family != RING_ADDR_V4 && seeds[i].family != RING_ADDR_V6) {
            return RING_EINVAL;
        }
        if (!ring_addr_equal(&seeds[i], &s->self.addr)) {
            s->seeds[s->seed_count++] = seeds[i];
        }
    }
    s->joined = s->seed_count == 0;
    s->join_next_ms = s->joined ? UINT64_MAX : now_ms;
    s->join_backoff_ms = s->cfg.probe_interval_ms;
    /* A random first seed, so that a cold start's joiners spread over the seeds. */
    s->join_seed_next = s->seed_count > 0 ? swim__rand_below(s, (uint32_t)s->seed_count) : 0;
    s->join_round_tries = 0;
    s->catchup_wanted = 0;
    s->catchup_backoff_ms = (uint64_t)s->cfg.probe_interval_ms * CATCHUP_DELAY_PERIODS;
    return 0;
}

void swim__test_joined(struct swim *s)
{
    s->joined = 1;
    s->join_next_ms = UINT64_MAX;
    s->join_inflight = 0;
}

/* One seed at a time (memberlist asks every seed; with N nodes starting at once that is 3N
 * syncs, each the seed's whole table): the next one when a sync fails, and after a round of
 * them all the backoff. */
static void join_tick(struct swim *s)
{
    if (s->joined || s->join_inflight > 0 || s->now_ms < s->join_next_ms || s->seed_count == 0) {
        return;
    }
    if (s->join_round_tries == s->seed_count) {
        s->join_round_tries = 0;
    }
    const struct ring_addr *seed = &s->seeds[s->join_seed_next % s->seed_count];
    s->join_seed_next = (s->join_seed_next + 1) % (uint32_t)s->seed_count;
    s->join_round_tries++;
    if (swim__sync_start(s, seed, SWIM_STREAM_JOIN) == 0) {
        s->join_inflight++;
    }
    s->join_next_ms = s->now_ms + s->join_backoff_ms;
    if (s->join_round_tries == s->seed_count) {
        s->join_backoff_ms *= 2;
        if (s->join_backoff_ms > SWIM_JOIN_BACKOFF_MAX_MS) {
            s->join_backoff_ms = SWIM_JOIN_BACKOFF_MAX_MS;
        }
    }
}

/* How long after a join or a catch-up the next catch-up may start: the backoff, plus up to
 * as much again at random so that the nodes of a cold start do not ask at once. */
static uint64_t catchup_delay(struct swim *s)
{
    uint64_t b = s->catchup_backoff_ms;
    return b + swim__rand_below(s, (uint32_t)(b < UINT32_MAX ? b : UINT32_MAX - 1) + 1);
}

/* A catch-up that brought new members asks for another at the first pace: the cluster is
 * still forming, and what joined after the seed answered was gossiped while our budget
 * refused it. One that brought none backs off, and only a refusal asks again. */
static void catchup_answered(struct swim *s, int grew)
{
    s->catchup_inflight = 0;
    if (grew) {
        s->forming_until_ms = s->now_ms + (uint64_t)s->cfg.probe_interval_ms * FORMING_PERIODS;
        s->catchup_backoff_ms = (uint64_t)s->cfg.probe_interval_ms * CATCHUP_DELAY_PERIODS;
        s->catchup_next_ms = s->now_ms + catchup_delay(s);
    }
}

/* Catch-up: a new member was refused for budget (swim_limits.c), so the table grows faster
 * than gossip may bring it in. A seed has what the joiners told it: its whole table, asked
 * for as a join is (the reply is exempt from the budget), at a pace that doubles up to
 * SWIM_JOIN_BACKOFF_MAX_MS, so a forged flood of refused members costs a seed one sync per
 * node per half minute. */
static void catchup_tick(struct swim *s)
{
    if (!s->joined || !s->catchup_wanted || s->catchup_inflight || s->seed_count == 0 ||
        s->now_ms < s->catchup_next_ms) {
        return;
    }
    const struct ring_addr *seed = &s->seeds[s->join_seed_next % s->seed_count];
    s->join_seed_next = (s->join_seed_next + 1) % (uint32_t)s->seed_count;
    if (swim__sync_start(s, seed, SWIM_STREAM_CATCHUP) != 0) {
        return;
    }
    s->catchup_wanted = 0;
    s->catchup_inflight = 1;
    s->stats.catchups++;
    s->catchup_next_ms = s->now_ms + catchup_delay(s);
    s->catchup_backoff_ms *= 2;
    if (s->catchup_backoff_ms > SWIM_JOIN_BACKOFF_MAX_MS) {
        s->catchup_backoff_ms = SWIM_JOIN_BACKOFF_MAX_MS;
    }
}

/* Seeds share their joiners. The joiners of a cold start spread over the seeds, a third at
 * each, and nobody gossips a joiner but the joiner itself, so a seed learns the others'
 * joiners slowly, from their own gossip to the few members they know; meanwhile every node's
 * catch-up brings what one seed holds, and finds more next time (ringsim at 10,000 nodes:
 * 2.3 catch-ups that brought members per node, against 1.6 at 3,000). A node that admits
 * joiners therefore pulls from the other seeds it was given, in turn, once per probe
 * interval while joiners arrive and for FORMING_PERIODS after the last: a few dozen pulls in
 * all, answered with only what the puller lacks. A stranger's join sync (a joiner's budget
 * draws on max(1,024, N) a second) cannot make it pull more often, nor from anyone but the
 * configured seeds. */
void swim__joiner_admitted(struct swim *s)
{
    s->seeds_pull_until_ms = s->now_ms + (uint64_t)s->cfg.probe_interval_ms * FORMING_PERIODS;
}

static int seeds_pull_due(const struct swim *s)
{
    return s->joined && s->seed_count > 0 && s->now_ms < s->seeds_pull_until_ms;
}

static void seeds_pull_tick(struct swim *s)
{
    if (!seeds_pull_due(s) || s->now_ms < s->seeds_pull_next_ms) {
        return;
    }
    const struct ring_addr *seed = &s->seeds[s->seeds_pull_turn % s->seed_count];
    s->seeds_pull_turn = (s->seeds_pull_turn + 1) % (uint32_t)s->seed_count;
    /* The next turn comes a probe interval on even when this one could not start (a sync
     * with that seed already in flight, or every stream slot taken). */
    s->seeds_pull_next_ms = s->now_ms + s->cfg.probe_interval_ms;
    if (swim__sync_start(s, seed, SWIM_STREAM_PULL) == 0) {
        s->stats.seed_pulls++;
    }
}

/* ---- periodic sync, healing, checksum mismatch ---- */

static int heal_candidate(const struct swim *s, size_t idx)
{
    return members_status(s->table, idx) == MEMBER_FAULTY &&
           s->now_ms < s->nodes[idx].changed_ms + s->cfg.dead_ms;
}

/* A random recently faulty member, from the dead list (never a walk of the table). */
static int random_heal_candidate(struct swim *s)
{
    int picked = -1;
    uint32_t seen = 0;
    for (size_t k = 0; k < s->dead_count; k++) {
        if (heal_candidate(s, s->dead[k]) && swim__rand_below(s, ++seen) == 0) {
            picked = (int)s->dead[k];
        }
    }
    return picked;
}

static int live_at(const struct swim *s, size_t idx, const struct ring_addr *a)
{
    return idx < members_count(s->table) && swim__is_live_peer(s, idx) &&
           ring_addr_equal(members_addr(s->table, idx), a);
}

/* Whether seed |k| is a live member. The index where it was last found is checked first,
 * so the table is walked only when a seed is not (or no longer) where it was. */
static int seed_is_live_member(struct swim *s, size_t k)
{
    const struct ring_addr *a = &s->seeds[k];
    if (s->seed_hint[k] != 0 && live_at(s, s->seed_hint[k] - 1, a)) {
        return 1;
    }
    s->seed_hint[k] = 0;
    size_t n = members_count(s->table);
    for (size_t i = 0; i < n; i++) {
        if (live_at(s, i, a)) {
            s->seed_hint[k] = (uint32_t)i + 1;
            return 1;
        }
    }
    return 0;
}

static void heal(struct swim *s)
{
    int idx = random_heal_candidate(s);
    if (idx >= 0) {
        (void)swim__sync_start(s, members_addr(s->table, (size_t)idx), SWIM_STREAM_SYNC);
        return;
    }
    struct ring_addr pick;
    memset(&pick, 0, sizeof(pick));
    uint32_t seen = 0;
    for (size_t i = 0; i < s->seed_count; i++) {
        if (!seed_is_live_member(s, i) && swim__rand_below(s, ++seen) == 0) {
            pick = s->seeds[i];
        }
    }
    if (seen > 0) {
        (void)swim__sync_start(s, &pick, SWIM_STREAM_SYNC);
    }
}

static void expire_streams(struct swim *s)
{
    for (size_t i = 0; i < SWIM_STREAMS_MAX && s->stream_count > 0; i++) {
        struct swim_stream *st = &s->streams[i];
        if (st->used && st->sent && s->now_ms >= st->expire_ms) {
            stream_drop(s, st);
        }
    }
}

/* memberlist's pushPullScale: above 32 members the push-pull interval grows by one interval
 * per doubling, x (ceil(log2 N) - 4): x3 at 100, x10 at 10,000. A sync carries the whole
 * table, so a fixed interval makes sync traffic per node grow as N and the cluster's as N^2
 * (at 10,000 members: 1.2 MB each way per node every 30 s); gossip, not sync, is what
 * spreads changes, and anti-entropy can afford to be slow. */
#define SYNC_SCALE_MIN_MEMBERS 32
static uint64_t sync_scale(const struct swim *s)
{
    size_t n = members_ring_count(s->table);
    uint64_t mult = 1;
    if (n > SYNC_SCALE_MIN_MEMBERS) {
        unsigned ceil_log2 = 0;
        while (((size_t)1 << ceil_log2) < n) {
            ceil_log2++;
        }
        mult = ceil_log2 - 4;
    }
    return mult;
}

static uint64_t sync_interval(const struct swim *s)
{
    return s->cfg.sync_interval_ms * sync_scale(s);
}

void swim__sync_tick(struct swim *s)
{
    uint64_t now = s->now_ms;
    join_tick(s);
    catchup_tick(s);
    seeds_pull_tick(s);
    expire_streams(s);
    if (now >= s->sync_next_ms && now < s->sync_base_ms + sync_interval(s) - s->sync_phase_ms) {
        /* The table grew since this was scheduled: the interval is longer now. */
        s->sync_next_ms = s->sync_base_ms + sync_interval(s) - s->sync_phase_ms;
    }
    if (now >= s->sync_next_ms) {
        s->sync_base_ms = now;
        s->sync_phase_ms = 0;
        s->sync_next_ms = now + sync_interval(s);
        int idx = swim__random_member(s, swim__is_live_peer);
        if (idx >= 0) {
            (void)swim__sync_start(s, members_addr(s->table, (size_t)idx), SWIM_STREAM_SYNC);
        }
    }
    uint64_t heal_interval = (uint64_t)s->cfg.heal_interval_ms * sync_scale(s);
    if (heal_interval > s->cfg.dead_ms / 2) {
        /* ...but at least twice per dead_ms, so every node tries a member of the other side
         * while it is still a heal target (ringsim: with a 300 ms period a 20 s partition
         * at N = 1,000 never healed when heals came every 60 s). */
        heal_interval = s->cfg.dead_ms / 2;
    }
    if (now >= s->heal_next_ms && now < s->heal_base_ms + heal_interval - s->heal_phase_ms) {
        /* As for syncs: the table grew since this was scheduled (the first heal is
         * scheduled when the table holds only this node). */
        s->heal_next_ms = s->heal_base_ms + heal_interval - s->heal_phase_ms;
    }
    if (now >= s->heal_next_ms) {
        /* A heal is a full sync too (ringsim at 10,000 nodes: one dead member made every
         * node encode 1.2 MB for it every 10 s), so it scales the same way; gossip to the
         * recently dead already reaches a healed partition sooner. */
        s->heal_base_ms = now;
        s->heal_phase_ms = 0;
        s->heal_next_ms = now + heal_interval;
        heal(s);
    }
}

uint64_t swim__sync_deadline(const struct swim *s)
{
    uint64_t t = s->sync_next_ms < s->heal_next_ms ? s->sync_next_ms : s->heal_next_ms;
    if (!s->joined && s->join_inflight == 0 && s->join_next_ms < t) {
        t = s->join_next_ms;
    }
    if (seeds_pull_due(s) && s->seeds_pull_next_ms < t) {
        t = s->seeds_pull_next_ms;
    }
    if (s->joined && s->catchup_wanted && !s->catchup_inflight && s->seed_count > 0 &&
        s->catchup_next_ms < t) {
        t = s->catchup_next_ms;
    }
    for (size_t i = 0; i < SWIM_STREAMS_MAX && s->stream_count > 0; i++) {
        const struct swim_stream *st = &s->streams[i];
        if (st->used && st->sent && st->expire_ms < t) {
            t = st->expire_ms;
        }
    }
    return t;
}

void swim__checksum_seen(struct swim *s, const struct ring_addr *from, const struct codec_msg *msg)
{
    if (msg->update_count > 0 || s->bcast_count > 0 || s->now_ms < s->mismatch_sync_next_ms) {
        return; /* updates in flight explain a difference: let gossip finish first */
    }
    if (msg->checksum == swim__checksum_now(s)) {
        return;
    }
    if (swim__sync_start(s, from, SWIM_STREAM_PULL) == 0) {
        s->mismatch_sync_next_ms =
            s->now_ms + (uint64_t)s->cfg.probe_interval_ms * SWIM_MISMATCH_SYNC_PERIODS;
    }
}
