/*
 * groups: the object, the table of group summaries, authoring our own group's summary and
 * lookups (groups.h says what and why; groups_exchange.c spreads the table).
 *
 * The table is an array sorted by the XXH3 of the group name. Each entry keeps its fixed
 * fields inline and its name and contacts packed in one small blob:
 *
 *   name[name_len] || per contact: u8 id_len, id, u8 family (4|6), ip[4|16], port (BE16)
 *
 * because ringsim holds 100,000 nodes x 1,000 groups and a struct codec_summary is 1.3 KB.
 *
 * Digests: an entry's term is XXH3-64 of le64(version) || le64(ring_checksum) || name; a
 * bucket (the top 6 bits of the name hash) sums its entries' terms mod 2^64, and the table
 * digest is XXH3-64 of the 64 sums in little-endian. Contacts are not covered: two nodes
 * holding the same versions agree, even if one of them replaced a failed contact locally.
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "ring/groups.h"
#include "groups_int.h"
#include "mem_int.h"

/* Defaults (groups.h documents each). The exchange interval keeps the cross-group traffic
 * near 100 bytes a second per node when nothing changes, and lets a summary reach 10,000
 * nodes in well under a minute (ringsim, sim/README.md "Sub-sharding"). */
#define DEFAULT_CONTACTS              4
#define DEFAULT_EXCHANGE_INTERVAL_MS  5000
#define DEFAULT_BOOTSTRAP_INTERVAL_MS 500
#define DEFAULT_EXCHANGE_TIMEOUT_MS   1000
#define DEFAULT_AUTHOR_GRACE_MS       10000
#define DEFAULT_AUTHOR_INTERVAL_MS    1000
#define DEFAULT_AUTHOR_SETTLE_MS      10000
#define DEFAULT_DATAGRAM_BYTES_MAX    1400
#define DEFAULT_PUSH_DATAGRAMS_MAX    16

/* Bytes of one packed contact besides its id: id_len, family, ip, port. */
#define CONTACT_FIXED_BYTES (1 + 1 + 2)

uint64_t groups__rand(struct groups *g)
{
    uint64_t z = (g->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint32_t groups__rand_below(struct groups *g, uint32_t n)
{
    RING_ASSERT(n > 0);
    return (uint32_t)(groups__rand(g) % n);
}

uint32_t groups__bucket_of(uint64_t name_hash)
{
    return (uint32_t)(name_hash >> 58);
}

static uint64_t name_hash(const char *name, size_t len)
{
    return XXH3_64bits(name, len);
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t term_raw(const void *name, size_t len, uint64_t version, uint64_t ring_checksum)
{
    uint8_t buf[16 + MEMBER_GROUP_BYTES_MAX];
    le64(buf, version);
    le64(buf + 8, ring_checksum);
    memcpy(buf + 16, name, len);
    return XXH3_64bits(buf, 16 + len);
}

/* An entry's term, recomputed rather than stored (8 bytes x groups x nodes in ringsim). */
static uint64_t entry_term(const struct groups_entry *e)
{
    return term_raw(e->blob, e->name_len, e->version, e->ring_checksum);
}

/* ---- packing ---- */

static size_t ip_len(const struct ring_addr *a)
{
    return a->family == RING_ADDR_V6 ? 16 : 4;
}

static size_t blob_size(const struct codec_summary *s)
{
    size_t n = s->name_len;
    for (int i = 0; i < s->contact_count; i++) {
        n += CONTACT_FIXED_BYTES + s->contacts[i].id_len + ip_len(&s->contacts[i].addr);
    }
    return n;
}

static void pack_blob(uint8_t *p, const struct codec_summary *s)
{
    memcpy(p, s->name, s->name_len);
    p += s->name_len;
    for (int i = 0; i < s->contact_count; i++) {
        const struct codec_contact *c = &s->contacts[i];
        *p++ = c->id_len;
        memcpy(p, c->id, c->id_len);
        p += c->id_len;
        *p++ = c->addr.family == RING_ADDR_V6 ? 6 : 4;
        memcpy(p, c->addr.ip, ip_len(&c->addr));
        p += ip_len(&c->addr);
        *p++ = (uint8_t)(c->addr.port >> 8);
        *p++ = (uint8_t)c->addr.port;
    }
}

/* Walks to contact |k| of |e|'s blob; returns a pointer to its id_len byte. */
static const uint8_t *contact_at(const struct groups_entry *e, int k)
{
    const uint8_t *p = e->blob + e->name_len;
    for (int i = 0; i < k; i++) {
        p += 1 + p[0];
        p += 1 + (p[0] == 6 ? 16 : 4) + 2;
    }
    return p;
}

static void unpack_contact(const uint8_t *p, struct codec_contact *c)
{
    memset(c, 0, sizeof(*c));
    c->id_len = p[0];
    memcpy(c->id, p + 1, c->id_len);
    p += 1 + c->id_len;
    c->addr.family = p[0] == 6 ? RING_ADDR_V6 : RING_ADDR_V4;
    size_t n = ip_len(&c->addr);
    memcpy(c->addr.ip, p + 1, n);
    c->addr.port = (uint16_t)(p[1 + n] << 8 | p[2 + n]);
}

void groups__contact(const struct groups_entry *e, int k, struct codec_contact *out)
{
    unpack_contact(contact_at(e, k), out);
}

void groups__unpack(const struct groups_entry *e, struct codec_summary *out)
{
    memset(out, 0, offsetof(struct codec_summary, contacts));
    memcpy(out->name, e->blob, e->name_len);
    out->name_len = e->name_len;
    out->version = e->version;
    out->size = e->size;
    out->ring_checksum = e->ring_checksum;
    out->contact_count = e->contact_count;
    for (int i = 0; i < e->contact_count; i++) {
        unpack_contact(contact_at(e, i), &out->contacts[i]);
    }
}

int groups__store(struct groups *g, struct groups_entry *e, const struct codec_summary *s)
{
    size_t n = blob_size(s);
    uint8_t *blob = ring__calloc(&g->mem, n > 0 ? n : 1, 1);
    if (blob == NULL) {
        return RING_ENOMEM;
    }
    pack_blob(blob, s);
    ring__free(&g->mem, e->blob);
    e->blob = blob;
    e->blob_len = (uint16_t)n;
    e->name_len = s->name_len;
    e->contact_count = s->contact_count;
    if (e->version != s->version) {
        e->changed_s = (uint32_t)(g->now_ms / 1000); /* the version ceiling's clock */
    }
    e->version = s->version;
    e->size = s->size;
    e->ring_checksum = s->ring_checksum;
    return 0;
}

/* ---- the table ---- */

/* The position of |hash| in the sorted table: its index, or where it would go. */
static size_t lower_bound(const struct groups *g, uint64_t hash)
{
    size_t lo = 0, hi = g->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->entries[mid].name_hash < hash) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int entry_is(const struct groups_entry *e, const char *name, size_t len)
{
    return e->name_len == len && memcmp(e->blob, name, len) == 0;
}

int groups__find(const struct groups *g, const char *name, size_t len)
{
    uint64_t h = name_hash(name, len);
    size_t i = lower_bound(g, h);
    return i < g->count && g->entries[i].name_hash == h && entry_is(&g->entries[i], name, len)
               ? (int)i
               : -1;
}

int groups__is_own(const struct groups *g, const struct groups_entry *e)
{
    return e->name_hash == g->group_hash && entry_is(e, g->group, g->group_len);
}

/* Newer wins: a higher version, then at equal versions the higher ring checksum. */
static int newer(const struct codec_summary *s, const struct groups_entry *e)
{
    return s->version > e->version ||
           (s->version == e->version && s->ring_checksum > e->ring_checksum);
}

/* Moves |e|'s bucket sum from term |old| to |e|'s current term. */
static void bucket_update(struct groups *g, const struct groups_entry *e, uint64_t old)
{
    g->bucket_sums[groups__bucket_of(e->name_hash)] += entry_term(e) - old;
}

static int insert(struct groups *g, size_t at, uint64_t hash, const struct codec_summary *s)
{
    if (g->count == GROUPS_MAX) {
        return RING_ENOMEM;
    }
    if (g->count == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        struct groups_entry *p = g->mem.realloc(g->entries, cap * sizeof(*p), g->mem.user_data);
        if (p == NULL) {
            return RING_ENOMEM;
        }
        g->entries = p;
        g->cap = cap;
    }
    struct groups_entry e;
    memset(&e, 0, sizeof(e));
    e.name_hash = hash;
    int rv = groups__store(g, &e, s);
    if (rv != 0) {
        return rv;
    }
    memmove(&g->entries[at + 1], &g->entries[at], (g->count - at) * sizeof(e));
    g->entries[at] = e;
    g->count++;
    bucket_update(g, &g->entries[at], 0);
    if (!(hash == g->group_hash && entry_is(&e, g->group, g->group_len))) {
        g->set_digest_sum += groupmap_name_digest(s->name, s->name_len);
    }
    return 0;
}

int groups__merge(struct groups *g, const struct codec_summary *s)
{
    if (s->version == 0 || s->name_len == 0) {
        return 0;
    }
    uint64_t h = name_hash(s->name, s->name_len);
    size_t i = lower_bound(g, h);
    int rv;
    if (i < g->count && g->entries[i].name_hash == h) {
        struct groups_entry *e = &g->entries[i];
        if (!entry_is(e, s->name, s->name_len) || !newer(s, e)) {
            return 0; /* older, or a 64-bit hash collision: keep the first */
        }
        uint64_t old = entry_term(e);
        rv = groups__store(g, e, s);
        if (rv == 0) {
            e->failed = 0;
            bucket_update(g, e, old);
        }
    } else {
        rv = insert(g, i, h, s);
    }
    if (rv != 0) {
        return rv;
    }
    g->stats.merged++;
    return 1;
}

/* Whether a new group may be added now: always while not ready (a fresh node has nothing to
 * compare with, and learns every group from its first exchanges), else from the budget. */
static int admit_group(struct groups *g)
{
    if (!g->ready) {
        return 1;
    }
    const uint64_t cap = (uint64_t)GROUPS_ADMIT_BURST * 1000;
    uint64_t elapsed = g->now_ms > g->admit_refill_ms ? g->now_ms - g->admit_refill_ms : 0;
    g->admit_refill_ms = g->now_ms;
    uint64_t add = elapsed >= GROUPS_ADMIT_INTERVAL_MS * GROUPS_ADMIT_BURST
                       ? cap
                       : elapsed * 1000 / GROUPS_ADMIT_INTERVAL_MS;
    g->admit_millis = g->admit_millis + add > cap ? cap : g->admit_millis + add;
    if (g->admit_millis < 1000) {
        g->stats.groups_refused++;
        return 0;
    }
    g->admit_millis -= 1000;
    return 1;
}

static uint32_t now_s(const struct groups *g)
{
    return (uint32_t)(g->now_ms / 1000);
}

static uint64_t ceiling_of(const struct groups *g, int i)
{
    if (i < 0) {
        return GROUPS_VERSION_NEW_MAX;
    }
    const struct groups_entry *e = &g->entries[i];
    uint64_t room = GROUPS_VERSION_STEP_MAX + (uint64_t)(uint32_t)(now_s(g) - e->changed_s);
    /* Saturates (unreachable: each accepted summary moves a version by at most |room|). */
    return e->version > UINT64_MAX - room ? UINT64_MAX : e->version + room;
}

uint64_t groups__version_ceiling(const struct groups *g, const char *name, size_t len)
{
    return ceiling_of(g, groups__find(g, name, len));
}

int groups__merge_peer(struct groups *g, const struct codec_summary *s)
{
    if (s->version == 0 || s->name_len == 0) {
        return 0;
    }
    int i = groups__find(g, s->name, s->name_len);
    if (s->version > ceiling_of(g, i)) {
        g->stats.versions_refused++;
        return 0;
    }
    if (i < 0 && !admit_group(g)) {
        return 0;
    }
    return groups__merge(g, s);
}

int groups__test_put(struct groups *g, const struct codec_summary *s)
{
    int rv = groups__merge(g, s);
    g->ready = 1;
    return rv < 0 ? rv : 0;
}

void groups__buckets(const struct groups *g, uint16_t *out)
{
    for (int b = 0; b < CODEC_GROUP_BUCKETS; b++) {
        uint64_t x = g->bucket_sums[b];
        out[b] = (uint16_t)(x ^ (x >> 16) ^ (x >> 32) ^ (x >> 48));
    }
}

uint64_t groups_digest(const struct groups *g)
{
    uint8_t buf[8 * CODEC_GROUP_BUCKETS];
    for (int b = 0; b < CODEC_GROUP_BUCKETS; b++) {
        le64(buf + 8 * b, g->bucket_sums[b]);
    }
    return XXH3_64bits(buf, sizeof(buf));
}

/* ---- contacts seen from here ---- */

static int contact_index(const struct groups_entry *e, const char *id, size_t id_len)
{
    for (int k = 0; k < e->contact_count; k++) {
        const uint8_t *p = contact_at(e, k);
        if (p[0] == id_len && memcmp(p + 1, id, id_len) == 0) {
            return k;
        }
    }
    return -1;
}

void groups__fail_contact(struct groups *g, uint64_t hash, int contact)
{
    size_t i = lower_bound(g, hash);
    if (i < g->count && g->entries[i].name_hash == hash && contact >= 0 &&
        contact < g->entries[i].contact_count) {
        g->entries[i].failed |= (uint8_t)(1u << contact);
    }
}

int groups_contact_failed(struct groups *g, const char *name, size_t name_len, const char *id,
                          size_t id_len)
{
    int i = groups__find(g, name, name_len);
    int k = i < 0 ? -1 : contact_index(&g->entries[i], id, id_len);
    if (k < 0) {
        return RING_ENOENT;
    }
    g->entries[i].failed |= (uint8_t)(1u << k);
    return 0;
}

static int first_failed(uint8_t failed)
{
    for (int k = 0; k < 8; k++) {
        if (failed & (1u << k)) {
            return k;
        }
    }
    return -1;
}

void groups__heard_from(struct groups *g, const char *name, size_t len, const char *id,
                        size_t id_len, const struct ring_addr *addr)
{
    int i = groups__find(g, name, len);
    if (i < 0 || groups__is_own(g, &g->entries[i])) {
        return;
    }
    struct groups_entry *e = &g->entries[i];
    int k = contact_index(e, id, id_len);
    if (k >= 0) {
        e->failed &= (uint8_t) ~(1u << k);
        return;
    }
    k = first_failed(e->failed);
    if (k < 0) {
        return;
    }
    /* A live member stands in for a failed contact, here only: the version (and so the
     * digest) stays, and a newer summary replaces both. */
    struct codec_summary s;
    groups__unpack(e, &s);
    struct codec_contact *c = &s.contacts[k];
    memcpy(c->id, id, id_len);
    c->id[id_len] = '\0';
    c->id_len = (uint8_t)id_len;
    c->addr = *addr;
    if (groups__store(g, e, &s) == 0) {
        e->failed &= (uint8_t) ~(1u << k);
    }
}

uint32_t groups_failed_contacts(const struct groups *g, size_t idx)
{
    return g->entries[idx].failed;
}

/* ---- authoring our own group's summary ---- */

static int alive_at(const struct members *t, size_t i)
{
    return members_status(t, i) == MEMBER_ALIVE;
}

static int alive_id(const struct members *t, const char *id, size_t id_len)
{
    int i = members_index(t, id, id_len);
    return i >= 0 && alive_at(t, (size_t)i);
}

enum contacts_state {
    CONTACTS_OK,   /* all alive in our view, as many as wanted (or as there are alive members) */
    CONTACTS_SOME, /* some dead or missing, at least one alive: routing still works */
    CONTACTS_NONE, /* no summary, or no contact alive */
};

/* How the contacts of |own|, the newest summary of our group we know (may be NULL), serve. */
static int contacts_state(const struct groups *g, const struct groups_entry *own,
                          const struct members *t)
{
    if (own == NULL) {
        return CONTACTS_NONE;
    }
    size_t alive = members_count_status(t, MEMBER_ALIVE);
    size_t want = alive < g->cfg.contacts ? alive : g->cfg.contacts;
    int live = 0;
    for (int k = 0; k < own->contact_count; k++) {
        const uint8_t *p = contact_at(own, k);
        live += alive_id(t, (const char *)p + 1, p[0]);
    }
    if (live == 0 && want > 0) {
        return CONTACTS_NONE;
    }
    return (size_t)live >= want && live == own->contact_count ? CONTACTS_OK : CONTACTS_SOME;
}

/* The group's author in our view: the alive member with the lowest id hash. A scan of the
 * table, so its answer is kept until the membership checksum changes. */
static int we_author(struct groups *g, const struct members *t)
{
    uint64_t cs = members_checksum(t);
    if (g->author_known && g->author_table_checksum == cs) {
        return g->author_is_us;
    }
    uint64_t mine = XXH3_64bits(g->id, g->id_len);
    int us = 1;
    for (size_t i = 0; i < members_count(t) && us; i++) {
        size_t len;
        const char *id = members_id(t, i, &len);
        us = !(alive_at(t, i) && XXH3_64bits(id, len) < mine);
    }
    g->author_known = 1;
    g->author_table_checksum = cs;
    g->author_is_us = (uint8_t)us;
    return us;
}

static int has_contact(const struct codec_summary *s, const char *id, size_t len)
{
    for (int k = 0; k < s->contact_count; k++) {
        if (s->contacts[k].id_len == len && memcmp(s->contacts[k].id, id, len) == 0) {
            return 1;
        }
    }
    return 0;
}

static void add_contact(struct codec_summary *s, const struct members *t, size_t i)
{
    size_t len;
    const char *id = members_id(t, i, &len);
    if (has_contact(s, id, len)) {
        return;
    }
    struct codec_contact *c = &s->contacts[s->contact_count++];
    memcpy(c->id, id, len);
    c->id[len] = '\0';
    c->id_len = (uint8_t)len;
    c->addr = *members_addr(t, i);
}

/* Keeps the old contacts that are still alive, then fills up with random alive members:
 * random probes first (large tables), then a scan from a random start. */
static void choose_contacts(struct groups *g, const struct groups_entry *own,
                            const struct members *t, struct codec_summary *s)
{
    size_t n = members_count(t);
    size_t want = g->cfg.contacts;
    for (int k = 0; own != NULL && k < own->contact_count && s->contact_count < want; k++) {
        const uint8_t *p = contact_at(own, k);
        int i = members_index(t, (const char *)p + 1, p[0]);
        if (i >= 0 && alive_at(t, (size_t)i)) {
            add_contact(s, t, (size_t)i);
        }
    }
    for (size_t tries = 0; n > 0 && s->contact_count < want && tries < GROUPS_PICK_TRIES; tries++) {
        size_t i = groups__rand_below(g, (uint32_t)n);
        if (alive_at(t, i)) {
            add_contact(s, t, i);
        }
    }
    size_t start = n > 0 ? groups__rand_below(g, (uint32_t)n) : 0;
    for (size_t j = 0; j < n && s->contact_count < want; j++) {
        size_t i = (start + j) % n;
        if (alive_at(t, i)) {
            add_contact(s, t, i);
        }
    }
}

static int author(struct groups *g, const struct members *t, uint64_t ring_checksum)
{
    int i = groups__find(g, g->group, g->group_len);
    const struct groups_entry *own = i >= 0 ? &g->entries[i] : NULL;
    struct codec_summary s;
    memset(&s, 0, offsetof(struct codec_summary, contacts));
    memcpy(s.name, g->group, g->group_len);
    s.name_len = g->group_len;
    /* Never wraps: saturates (unreachable, peers cannot push a version near 2^64). */
    s.version = own == NULL ? 1 : own->version + (own->version < UINT64_MAX);
    s.size = (uint32_t)members_ring_count(t);
    s.ring_checksum = ring_checksum;
    choose_contacts(g, own, t, &s);
    int rv = groups__merge(g, &s);
    if (rv < 0) {
        return rv;
    }
    g->stats.authored++;
    groups__news(g);
    g->authored_ms = g->now_ms;
    g->authored_once = 1;
    g->mismatch_since_ms = 0;
    return 0;
}

/* Notes when our view of the ring last changed (the settle clock). */
static void view_changed(struct groups *g, const struct members *t, uint64_t ring_checksum)
{
    uint32_t size = (uint32_t)members_ring_count(t);
    if (ring_checksum != g->view_checksum || size != g->view_size) {
        g->view_checksum = ring_checksum;
        g->view_size = size;
        g->view_since_ms = g->now_ms;
    }
}

/*
 * Only a ready node authors: it has heard the newest summary of its group from a peer, so a
 * restarted node does not publish the one-member view it starts with. A node alone (no other
 * member, no other group) is the exception, after author_grace_ms: the first node of a new
 * group, or of a new cluster.
 *
 * Changes wait until they have held for author_settle_ms: a new size or ring checksum, and a
 * dead contact while another still answers. A restart takes a member out of the ring and
 * puts it back within seconds, to the same checksum and at the same address, so the rest
 * of the cluster need not hear of it at all (under 1%/min churn that is nearly every
 * change; every version published costs each node of the cluster a summary). Meanwhile
 * the other groups route around a silent contact on their own. A summary with no live
 * contact at all is replaced at once.
 *
 * Leaves in author_due_ms when to look again.
 */
static int author_tick(struct groups *g, const struct members *t, uint64_t ring_checksum)
{
    int i = groups__find(g, g->group, g->group_len);
    const struct groups_entry *own = i >= 0 ? &g->entries[i] : NULL;
    view_changed(g, t, ring_checksum);
    g->author_due_ms = UINT64_MAX;
    int contacts = contacts_state(g, own, t);
    if (contacts == CONTACTS_OK) {
        g->contacts_bad_since_ms = 0;
    } else if (g->contacts_bad_since_ms == 0) {
        g->contacts_bad_since_ms = g->now_ms;
    }
    int ring_agrees =
        own != NULL && own->ring_checksum == ring_checksum && own->size == g->view_size;
    if (contacts == CONTACTS_OK && ring_agrees) {
        g->mismatch_since_ms = 0;
        return 0;
    }
    if (g->mismatch_since_ms == 0) {
        g->mismatch_since_ms = g->now_ms;
    }
    int alone = members_count_status(t, MEMBER_ALIVE) <= 1 && g->count <= 1;
    if (!g->ready && !alone) {
        return 0; /* readiness comes with a message; the next exchange tick looks again */
    }
    uint64_t due = g->authored_once ? g->authored_ms + g->cfg.author_interval_ms : 0;
    if (alone || !we_author(g, t)) {
        uint64_t grace = g->mismatch_since_ms + g->cfg.author_grace_ms;
        due = grace > due ? grace : due;
    }
    if (contacts != CONTACTS_NONE) {
        uint64_t settled = ring_agrees ? 0 : g->view_since_ms + g->cfg.author_settle_ms;
        uint64_t replaced =
            contacts == CONTACTS_SOME ? g->contacts_bad_since_ms + g->cfg.author_settle_ms : 0;
        settled = replaced > settled ? replaced : settled;
        due = settled > due ? settled : due;
    }
    if (g->now_ms < due) {
        g->author_due_ms = due;
        return 0;
    }
    return author(g, t, ring_checksum);
}

static uint64_t author_deadline(const struct groups *g)
{
    return g->author_due_ms;
}

/* ---- configuration and lifetime ---- */

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v != 0 ? v : def;
}

void groups_config_defaults(struct groups_config *c)
{
    c->contacts = or_default(c->contacts, DEFAULT_CONTACTS);
    c->exchange_interval_ms = or_default(c->exchange_interval_ms, DEFAULT_EXCHANGE_INTERVAL_MS);
    c->bootstrap_interval_ms = or_default(c->bootstrap_interval_ms, DEFAULT_BOOTSTRAP_INTERVAL_MS);
    c->exchange_timeout_ms = or_default(c->exchange_timeout_ms, DEFAULT_EXCHANGE_TIMEOUT_MS);
    c->author_grace_ms = or_default(c->author_grace_ms, DEFAULT_AUTHOR_GRACE_MS);
    c->author_interval_ms = or_default(c->author_interval_ms, DEFAULT_AUTHOR_INTERVAL_MS);
    c->author_settle_ms = or_default(c->author_settle_ms, DEFAULT_AUTHOR_SETTLE_MS);
    c->map_vnodes = or_default(c->map_vnodes, GROUPMAP_VNODES_DEFAULT);
    c->datagram_bytes_max = or_default(c->datagram_bytes_max, DEFAULT_DATAGRAM_BYTES_MAX);
    c->push_datagrams_max = or_default(c->push_datagrams_max, DEFAULT_PUSH_DATAGRAMS_MAX);
}

static int config_ok(const struct groups_config *c)
{
    if (c->id == NULL || c->id_len == 0 || c->id_len > MEMBER_ID_BYTES_MAX ||
        memchr(c->id, '\0', c->id_len) != NULL) {
        return 0;
    }
    if (c->group == NULL || c->group_len == 0 || c->group_len > MEMBER_GROUP_BYTES_MAX ||
        memchr(c->group, '\0', c->group_len) != NULL) {
        return 0;
    }
    if (c->addr.family != RING_ADDR_V4 && c->addr.family != RING_ADDR_V6) {
        return 0;
    }
    return c->contacts <= CODEC_CONTACTS_MAX && c->map_vnodes <= HASHRING_VNODES_MAX &&
           c->exchange_timeout_ms < c->exchange_interval_ms &&
           c->datagram_bytes_max >= GROUPS_DATAGRAM_BYTES_MIN &&
           c->datagram_bytes_max <= CODEC_DATAGRAM_BYTES_MAX &&
           c->push_datagrams_max <= GROUPS_PUSH_DATAGRAMS_MAX;
}

int groups_new(struct groups **out, const struct groups_config *cfg, const struct ring_mem *mem,
               uint64_t now_ms)
{
    if (out == NULL || cfg == NULL) {
        return RING_EINVAL;
    }
    struct groups_config c = *cfg;
    groups_config_defaults(&c);
    if (!config_ok(&c)) {
        return RING_EINVAL;
    }
    mem = mem != NULL ? mem : ring_mem_default();
    struct groups *g = ring__calloc(mem, 1, sizeof(*g));
    if (g == NULL) {
        return RING_ENOMEM;
    }
    g->mem = *mem;
    memcpy(g->id, c.id, c.id_len);
    g->id_len = (uint8_t)c.id_len;
    memcpy(g->group, c.group, c.group_len);
    g->group_len = (uint8_t)c.group_len;
    g->group_hash = name_hash(g->group, g->group_len);
    c.id = NULL;
    c.group = NULL;
    g->cfg = c;
    g->rng = c.seed;
    g->now_ms = now_ms;
    g->admit_millis = (uint64_t)GROUPS_ADMIT_BURST * 1000;
    g->admit_refill_ms = now_ms;
    g->seq_next = 1;
    g->author_due_ms = UINT64_MAX;
    /* The first exchange within one bootstrap interval: soon, but not in lock step with
     * nodes started together. */
    g->exchange_next_ms = now_ms + groups__rand_below(g, c.bootstrap_interval_ms) + 1;
    *out = g;
    return 0;
}

void groups_del(struct groups *g)
{
    if (g == NULL) {
        return;
    }
    struct ring_mem mem = g->mem;
    groups__out_clear(g);
    for (size_t i = 0; i < g->count; i++) {
        ring__free(&mem, g->entries[i].blob);
    }
    ring__free(&mem, g->entries);
    ring__free(&mem, g);
}

int groups_join(struct groups *g, const struct ring_addr *seeds, size_t n)
{
    if (n > GROUPS_SEEDS_MAX) {
        return RING_E2BIG;
    }
    g->seed_count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ring_addr_equal(&seeds[i], &g->cfg.addr)) {
            g->seeds[g->seed_count++] = seeds[i];
        }
    }
    return 0;
}

int groups_tick(struct groups *g, const struct members *local, uint64_t local_ring_checksum,
                uint64_t now_ms)
{
    g->now_ms = now_ms;
    int rv = author_tick(g, local, local_ring_checksum);
    groups__exchange_tick(g, local);
    return rv;
}

uint64_t groups_next_deadline(const struct groups *g)
{
    uint64_t a = author_deadline(g);
    uint64_t e = groups__exchange_deadline(g);
    return a < e ? a : e;
}

uint64_t groups_deadline_with(const struct groups *g, uint64_t swim_deadline)
{
    if (g == NULL) {
        return swim_deadline;
    }
    uint64_t d = groups_next_deadline(g);
    return d < swim_deadline ? d : swim_deadline;
}

size_t groups_own_seeds(struct groups *g, const struct members *local, uint64_t now_ms,
                        struct ring_addr *seeds)
{
    if (members_count_status(local, MEMBER_ALIVE) > 1 || now_ms < g->own_join_at_ms) {
        return 0;
    }
    int idx = groups__find(g, g->group, g->group_len);
    if (idx < 0) {
        return 0;
    }
    struct codec_summary s;
    groups_get(g, (size_t)idx, &s);
    size_t n = 0;
    for (uint8_t c = 0; c < s.contact_count; c++) {
        if (!ring_addr_equal(&s.contacts[c].addr, &g->cfg.addr)) {
            seeds[n++] = s.contacts[c].addr;
        }
    }
    if (n > 0) {
        g->own_join_at_ms = now_ms + GROUPS_OWN_JOIN_RETRY_MS;
    }
    return n;
}

int groups_alone_in_group(const struct groups *g)
{
    if (!groups_ready(g)) {
        return 0;
    }
    int idx = groups__find(g, g->group, g->group_len);
    if (idx < 0) {
        return 1;
    }
    struct codec_summary s;
    groups_get(g, (size_t)idx, &s);
    for (uint8_t c = 0; c < s.contact_count; c++) {
        if (!ring_addr_equal(&s.contacts[c].addr, &g->cfg.addr)) {
            return 0;
        }
    }
    return s.size <= 1;
}

/* ---- lookups ---- */

static int route_remote(const struct groups_entry *e, uint64_t key_hash, struct groups_route *out)
{
    int usable = 0;
    for (int k = 0; k < e->contact_count; k++) {
        usable += !(e->failed & (1u << k));
    }
    if (usable == 0) {
        return RING_EAGAIN;
    }
    int pick = (int)(key_hash % (uint64_t)usable);
    for (int k = 0; k < e->contact_count; k++) {
        if (e->failed & (1u << k)) {
            continue;
        }
        if (pick-- == 0) {
            struct codec_contact c;
            const uint8_t *p = contact_at(e, k);
            unpack_contact(p, &c);
            out->contact_id = (const char *)p + 1;
            out->contact_id_len = p[0];
            out->contact_addr = c.addr;
            break;
        }
    }
    return 0;
}

int groups_route(const struct groups *g, const struct groupmap *map, const struct hashring *ring,
                 const void *key, size_t key_len, struct groups_route *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t h = groupmap_key_hash(key, key_len);
    uint32_t gi;
    int rv = groupmap_lookup_hash(map, h, &gi);
    if (rv != 0) {
        return rv;
    }
    out->group = groupmap_name(map, gi, &out->group_len);
    int i = groups__find(g, out->group, out->group_len);
    if (i >= 0) {
        out->size = g->entries[i].size;
        out->ring_checksum = g->entries[i].ring_checksum;
    }
    if (out->group_len == g->group_len && memcmp(out->group, g->group, g->group_len) == 0) {
        out->local = 1;
        return ring != NULL ? hashring_lookup(ring, key, key_len, &out->owner) : 0;
    }
    return i < 0 ? RING_ENOENT : route_remote(&g->entries[i], h, out);
}

/* ---- the set and accessors ---- */

int groups_map_refresh(const struct groups *g, struct groupmap **map, const struct ring_mem *mem)
{
    if (*map != NULL && groupmap_checksum(*map) == groups_set_checksum(g)) {
        return 0;
    }
    struct groupmap *m = NULL;
    int rv = groups_map_new(g, &m, mem);
    if (rv != 0) {
        return rv;
    }
    groupmap_del(*map);
    *map = m;
    return 1;
}

uint64_t groups_set_checksum(const struct groups *g)
{
    /* Our own group is always in the set, summary or not (insert() leaves it out of the
     * running sum for that reason). */
    uint64_t sum = g->set_digest_sum + groupmap_name_digest(g->group, g->group_len);
    return groupmap_set_checksum(g->cfg.map_vnodes, sum);
}

int groups_map_new(const struct groups *g, struct groupmap **out, const struct ring_mem *mem)
{
    mem = mem != NULL ? mem : &g->mem;
    struct groupmap_name *names = ring__calloc(mem, g->count + 1, sizeof(*names));
    if (names == NULL) {
        return RING_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < g->count; i++) {
        if (!groups__is_own(g, &g->entries[i])) {
            names[n].name = (const char *)g->entries[i].blob;
            names[n++].len = g->entries[i].name_len;
        }
    }
    names[n].name = g->group;
    names[n++].len = g->group_len;
    int rv = groupmap_new(out, names, n, g->cfg.map_vnodes, mem);
    ring__free(mem, names);
    return rv;
}

size_t groups_count(const struct groups *g)
{
    return g->count;
}

void groups_get(const struct groups *g, size_t idx, struct codec_summary *out)
{
    RING_ASSERT(idx < g->count);
    groups__unpack(&g->entries[idx], out);
}

int groups_find(const struct groups *g, const char *name, size_t name_len)
{
    int i = groups__find(g, name, name_len);
    return i >= 0 ? i : RING_ENOENT;
}

int groups_ready(const struct groups *g)
{
    return g->ready;
}

const struct groups_stats *groups_stats(const struct groups *g)
{
    return &g->stats;
}
