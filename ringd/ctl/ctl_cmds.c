/*
 * ctl_cmds: ringctl's commands. Each gets its arguments parsed (ringctl.c), calls the local
 * API (or, for checksums and members of another group, peers' gossip ports) and prints a
 * table for a person or JSON for a script (ctl_out.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "escape.h"
#include "version.h"

/* Widest bar in `ringctl ring`. */
#define BAR_WIDTH 40

/* ---- members ---------------------------------------------------------------------------- */

static void format_labels(const msgpack_object *labels, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (labels == NULL || labels->type != MSGPACK_OBJECT_MAP || labels->via.map.size == 0) {
        snprintf(buf, cap, "-");
        return;
    }
    for (uint32_t i = 0; i < labels->via.map.size && n < cap; i++) {
        const msgpack_object *k = &labels->via.map.ptr[i].key;
        const msgpack_object *v = &labels->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR) {
            continue; /* ringd sends only strings; print nothing else as one */
        }
        n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", i > 0 ? "," : "",
                              ctl_shown_n(k->via.str.ptr, k->via.str.size),
                              ctl_shown_n(v->via.str.ptr, v->via.str.size));
    }
}

static int str_is(const msgpack_object *o, const char *s, size_t len)
{
    return o != NULL && (o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN) &&
           o->via.str.size == len && memcmp(o->via.str.ptr, s, len) == 0;
}

static int get_bool(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = ringc_get(o, key);
    return v != NULL && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
}

/* The status a person sees: "draining" for an alive member that drains (it is live but owns
 * no keys), "restarting" for an alive or suspect one that holds its keys over a restart, else
 * the member's status. */
static const char *shown_status(const msgpack_object *m, char *buf, size_t cap)
{
    ringc_get_str(m, "status", buf, cap);
    int live = strcmp(buf, "alive") == 0 || strcmp(buf, "suspect") == 0;
    if (strcmp(buf, "alive") == 0 && get_bool(m, "draining")) {
        return "draining";
    }
    return live && get_bool(m, "restarting") ? "restarting" : buf;
}

/* --status S (a comma-separated list, repeatable): the member's shown status is one of
 * them. */
static int status_matches(const msgpack_object *m, const struct ctl_args *a)
{
    if (a->status_count == 0) {
        return 1;
    }
    char buf[16];
    const char *st = shown_status(m, buf, sizeof(buf));
    for (int i = 0; i < a->status_count; i++) {
        for (const char *p = a->status[i]; *p != '\0';) {
            size_t len = strcspn(p, ",");
            if (strlen(st) == len && memcmp(st, p, len) == 0) {
                return 1;
            }
            p += len + (p[len] == ',');
        }
    }
    return 0;
}

/* --label K=V (repeatable, all must hold): the member has label K with value V; --label K:
 * it has label K. */
static int labels_match(const msgpack_object *m, const struct ctl_args *a)
{
    const msgpack_object *labels = ringc_get(m, "labels");
    for (int i = 0; i < a->label_count; i++) {
        const char *eq = strchr(a->label[i], '=');
        size_t klen = eq != NULL ? (size_t)(eq - a->label[i]) : strlen(a->label[i]);
        int found = 0;
        for (uint32_t j = 0; labels != NULL && labels->type == MSGPACK_OBJECT_MAP &&
                             j < labels->via.map.size && !found;
             j++) {
            found = str_is(&labels->via.map.ptr[j].key, a->label[i], klen) &&
                    (eq == NULL || str_is(&labels->via.map.ptr[j].val, eq + 1, strlen(eq + 1)));
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

static int by_id(const void *x, const void *y)
{
    const msgpack_object *a = ringc_get(*(const msgpack_object *const *)x, "id");
    const msgpack_object *b = ringc_get(*(const msgpack_object *const *)y, "id");
    size_t la = a != NULL && a->type == MSGPACK_OBJECT_STR ? a->via.str.size : 0;
    size_t lb = b != NULL && b->type == MSGPACK_OBJECT_STR ? b->via.str.size : 0;
    int c = memcmp(la > 0 ? a->via.str.ptr : "", lb > 0 ? b->via.str.ptr : "", la < lb ? la : lb);
    return c != 0 ? c : (la > lb) - (la < lb);
}

static void print_member_row(const msgpack_object *m)
{
    char id[130], addr[64], status[16], labels[256];
    ringc_get_str(m, "id", id, sizeof(id));
    ringc_get_str(m, "address", addr, sizeof(addr));
    const char *st = shown_status(m, status, sizeof(status));
    format_labels(ringc_get(m, "labels"), labels, sizeof(labels));
    printf("%-24s %-24s %-10s %-12llu %-20s %6.2f%%\n", ctl_shown(id), ctl_shown(addr),
           ctl_shown(st), (unsigned long long)ringc_get_u64(m, "incarnation", 0), labels,
           100.0 * ringc_get_f64(m, "share", 0));
}

/* members()'s answer |res|, sorted by id and filtered by --status and --label. */
static int print_members(struct ctl *ctl, const msgpack_object *res, const struct ctl_args *a)
{
    const msgpack_object *list = ringc_get_array(res, "members");
    uint32_t n = list != NULL ? list->via.array.size : 0;
    const msgpack_object **rows = calloc(n + 1, sizeof(*rows));
    if (rows == NULL) {
        fprintf(stderr, "ringctl: members: out of memory\n");
        return CTL_EXIT_FAIL;
    }
    size_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *m = &list->via.array.ptr[i];
        if (status_matches(m, a) && labels_match(m, a)) {
            rows[count++] = m;
        }
    }
    qsort(rows, count, sizeof(*rows), by_id);
    if (ctl->json) {
        struct sbuf b;
        sbuf_init(&b, 64u << 20);
        sbuf_adds(&b, "{\"members\":[");
        for (size_t i = 0; i < count; i++) {
            sbuf_adds(&b, i > 0 ? "," : "");
            ctl_to_json(&b, rows[i]);
        }
        sbuf_adds(&b, "]}");
        printf("%s\n", b.failed ? "null" : b.data);
        sbuf_free(&b);
    } else {
        printf("%-24s %-24s %-10s %-12s %-20s %7s\n", "ID", "ADDRESS", "STATUS", "INCARNATION",
               "LABELS", "SHARE");
        for (size_t i = 0; i < count; i++) {
            print_member_row(rows[i]);
        }
    }
    free(rows);
    return 0;
}

/* The summary of group |name| in groups()'s answer |res|, or NULL. */
static const msgpack_object *find_group(const msgpack_object *res, const char *name)
{
    const msgpack_object *list = ringc_get_array(res, "groups");
    for (uint32_t i = 0; list != NULL && i < list->via.array.size; i++) {
        char g[80];
        ringc_get_str(&list->via.array.ptr[i], "name", g, sizeof(g));
        if (strcmp(g, name) == 0) {
            return &list->via.array.ptr[i];
        }
    }
    return NULL;
}

/* members --group G of another group: ask its contacts, over their gossip ports, in turn. */
static int members_elsewhere(struct ctl *ctl, const msgpack_object *group, const struct ctl_args *a)
{
    const msgpack_object *contacts = ringc_get_array(group, "contacts");
    for (uint32_t i = 0; contacts != NULL && i < contacts->via.array.size; i++) {
        char addr[64];
        ringc_get_str(&contacts->via.array.ptr[i], "address", addr, sizeof(addr));
        struct ring_addr ra;
        if (ring_addr_parse(addr, strlen(addr), &ra) != 0) {
            continue;
        }
        struct ringc_peer_result r;
        const msgpack_object *res;
        int rv = ringc_peer_call(&ra, ctl->keys, ctl->timeout_ms, "members", &r, &res);
        if (rv == 0) {
            rv = print_members(ctl, res, a);
            ringc_peer_result_free(&r);
            return rv;
        }
        ringc_peer_result_free(&r);
    }
    fprintf(stderr, "ringctl: members: no contact of group %s answered\n", ctl_shown(a->group));
    return CTL_EXIT_FAIL;
}

int ctl_members(struct ctl *ctl, const struct ctl_args *a)
{
    const msgpack_object *res;
    if (a->group != NULL) {
        int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "groups", "");
        if (rv != 0) {
            return ctl_report(ctl, "members --group", rv);
        }
        const msgpack_object *g = find_group(res, a->group);
        if (g == NULL) {
            fprintf(stderr, "ringctl: members: no group %s is known here (see ringctl groups)\n",
                    ctl_shown(a->group));
            return CTL_EXIT_FAIL;
        }
        const msgpack_object *local = ringc_get(g, "local");
        if (local == NULL || local->type != MSGPACK_OBJECT_BOOLEAN || !local->via.boolean) {
            return members_elsewhere(ctl, g, a);
        }
    }
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "members", "");
    if (rv != 0) {
        return ctl_report(ctl, "members", rv);
    }
    return print_members(ctl, res, a);
}

/* ---- groups ----------------------------------------------------------------------------- */

static void print_contacts(const msgpack_object *g)
{
    const msgpack_object *cs = ringc_get_array(g, "contacts");
    for (uint32_t c = 0; cs != NULL && c < cs->via.array.size; c++) {
        char id[130], addr[64];
        ringc_get_str(&cs->via.array.ptr[c], "id", id, sizeof(id));
        ringc_get_str(&cs->via.array.ptr[c], "address", addr, sizeof(addr));
        const msgpack_object *f = ringc_get(&cs->via.array.ptr[c], "failed");
        int failed = f != NULL && f->type == MSGPACK_OBJECT_BOOLEAN && f->via.boolean;
        printf("%s%s%s(%s)", c > 0 ? " " : "", failed ? "!" : "", ctl_shown(id), ctl_shown(addr));
    }
}

/* groups: one line per group known here; contacts that failed from here are marked "!". */
int ctl_groups(struct ctl *ctl, const struct ctl_args *a)
{
    (void)a;
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "groups", "");
    if (rv != 0) {
        return ctl_report(ctl, "groups", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
        return 0;
    }
    const msgpack_object *list = ringc_get_array(res, "groups");
    printf("%-20s %6s %-16s %s\n", "GROUP", "SIZE", "RING CHECKSUM", "CONTACTS");
    for (uint32_t i = 0; list != NULL && i < list->via.array.size; i++) {
        const msgpack_object *g = &list->via.array.ptr[i];
        char name[80];
        ringc_get_str(g, "name", name, sizeof(name));
        const msgpack_object *local = ringc_get(g, "local");
        int here = local != NULL && local->type == MSGPACK_OBJECT_BOOLEAN && local->via.boolean;
        char shown_name[1100];
        snprintf(shown_name, sizeof(shown_name), "%s%s", ctl_shown(name), here ? " *" : "");
        printf("%-20s %6llu %016llx ", shown_name, (unsigned long long)ringc_get_u64(g, "size", 0),
               (unsigned long long)ringc_get_u64(g, "ring_checksum", 0));
        print_contacts(g);
        printf("\n");
    }
    printf("(* this node's group)\n");
    return 0;
}

/* ---- lookup ----------------------------------------------------------------------------- */

/* One answer of lookup or lookup_n, as text: "-> [shard S ->] [group G, via contact] id
 * (address)". */
static void lookup_text(struct sbuf *b, const msgpack_object *ans, int first)
{
    char id[130], addr[64], group[80] = "";
    ringc_get_str(ans, "id", id, sizeof(id));
    ringc_get_str(ans, "address", addr, sizeof(addr));
    ringc_get_str(ans, "group", group, sizeof(group));
    const msgpack_object *local = ringc_get(ans, "local");
    int via = local != NULL && local->type == MSGPACK_OBJECT_BOOLEAN && !local->via.boolean;
    const msgpack_object *shard = ringc_get(ans, "shard");
    if (first && shard != NULL && shard->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        sbuf_printf(b, " -> shard %llu", (unsigned long long)shard->via.u64);
    }
    sbuf_adds(b, first ? " ->" : ",");
    if (group[0] != '\0' && via) {
        sbuf_printf(b, " group %s, via contact %s (%s)", ctl_shown(group), ctl_shown(id),
                    ctl_shown(addr));
    } else if (group[0] != '\0' && first) {
        sbuf_printf(b, " %s (%s), group %s", ctl_shown(id), ctl_shown(addr), ctl_shown(group));
    } else {
        sbuf_printf(b, " %s (%s)", ctl_shown(id), ctl_shown(addr));
    }
}

/* lookup KEY [-n N]. JSON has one shape either way: {"key", the primary's fields ("id",
 * "address", and "shard", "group", "local" when ringd sends them), "owners": [every
 * answer]}; without -n, "owners" holds the one answer. */
int ctl_lookup(struct ctl *ctl, const struct ctl_args *a)
{
    const char *key = a->pos[0];
    const msgpack_object *res;
    int rv = a->n == 0
                 ? ringc_call(ctl->c, &res, ctl->timeout_ms, "lookup", "s", key)
                 : ringc_call(ctl->c, &res, ctl->timeout_ms, "lookup_n", "su", key, (uint64_t)a->n);
    if (rv != 0) {
        return ctl_report(ctl, "lookup", rv);
    }
    const msgpack_object *answers = res;
    uint32_t count = 1;
    if (a->n != 0) {
        count = res->type == MSGPACK_OBJECT_ARRAY ? res->via.array.size : 0;
        answers = count > 0 ? res->via.array.ptr : NULL;
    }
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (ctl->json) {
        sbuf_adds(&b, "{\"key\":");
        escape_json(&b, key, strlen(key));
        if (count > 0) {
            ctl_to_json_pairs(&b, &answers[0]);
        }
        sbuf_adds(&b, ",\"owners\":[");
        for (uint32_t i = 0; i < count; i++) {
            sbuf_adds(&b, i > 0 ? "," : "");
            ctl_to_json(&b, &answers[i]);
        }
        sbuf_adds(&b, "]}");
    } else {
        sbuf_adds(&b, ctl_shown(key));
        for (uint32_t i = 0; i < count; i++) {
            lookup_text(&b, &answers[i], i == 0);
        }
    }
    printf("%s\n", b.data != NULL ? b.data : "");
    sbuf_free(&b);
    return 0;
}

/* ---- ring ------------------------------------------------------------------------------- */

static void print_bar(const char *id, double share, double max)
{
    char bar[BAR_WIDTH * 3 + 1];
    int w = max > 0 ? (int)(share / max * BAR_WIDTH + 0.5) : 0;
    size_t k = 0;
    for (int j = 0; j < w; j++) {
        memcpy(bar + k, "\xe2\x96\x88", 3); /* U+2588 FULL BLOCK */
        k += 3;
    }
    bar[k] = '\0';
    printf("%-24s %6.2f%% %s\n", ctl_shown(id), 100.0 * share, bar);
}

int ctl_ring(struct ctl *ctl, const struct ctl_args *a)
{
    (void)a;
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "ring", "");
    if (rv != 0) {
        return ctl_report(ctl, "ring", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
        return 0;
    }
    const msgpack_object *list = ringc_get_array(res, "members");
    size_t n = list != NULL ? list->via.array.size : 0;
    printf("ring %016llx: %zu members, %llu points (%llu per unit of weight)\n",
           (unsigned long long)ringc_get_u64(res, "checksum", 0), n,
           (unsigned long long)ringc_get_u64(res, "points", 0),
           (unsigned long long)ringc_get_u64(res, "vnodes", 0));
    double max = 0;
    for (size_t i = 0; i < n; i++) {
        double s = ringc_get_f64(&list->via.array.ptr[i], "share", 0);
        max = s > max ? s : max;
    }
    for (size_t i = 0; i < n; i++) {
        char id[130];
        ringc_get_str(&list->via.array.ptr[i], "id", id, sizeof(id));
        print_bar(id, ringc_get_f64(&list->via.array.ptr[i], "share", 0), max);
    }
    return 0;
}

/* ---- watch ------------------------------------------------------------------------------ */

static uint64_t u64_of(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

/* The ids (or shard numbers, sent as decimal strings) in list |l| as text: " +a +b". */
static void text_list(struct sbuf *b, const msgpack_object *l, const char *sign)
{
    for (uint32_t i = 0; l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size; i++) {
        const msgpack_object *id = &l->via.array.ptr[i];
        if (id->type == MSGPACK_OBJECT_STR) {
            sbuf_printf(b, " %s%s", sign, ctl_shown_n(id->via.str.ptr, id->via.str.size));
        } else if (id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) { /* a shard number */
            sbuf_printf(b, " %s%llu", sign, (unsigned long long)id->via.u64);
        }
    }
}

/* The shard numbers in list |l| as a JSON array of integers. */
static void json_shards(struct sbuf *b, const msgpack_object *l)
{
    sbuf_adds(b, "[");
    for (uint32_t i = 0, n = 0; l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size; i++) {
        const msgpack_object *s = &l->via.array.ptr[i];
        if (s->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            sbuf_printf(b, "%s%llu", n++ > 0 ? "," : "", (unsigned long long)s->via.u64);
        }
    }
    sbuf_adds(b, "]");
}

static void print_line(struct sbuf *b)
{
    printf("%s\n", b->data != NULL ? b->data : "");
    fflush(stdout);
}

/* The watch() result (a map, |o|; type "ring") or a ring_changed notification's params
 * ([checksum, members, added, removed, omitted]; type "ring_changed"), as one line. */
static void print_change(struct ctl *ctl, const msgpack_object *o)
{
    static const msgpack_object empty = { .type = MSGPACK_OBJECT_ARRAY };
    uint64_t checksum = 0, members = 0, omitted = 0;
    const msgpack_object *added = &empty, *removed = &empty;
    int initial = o->type == MSGPACK_OBJECT_MAP;
    if (initial) {
        checksum = ringc_get_u64(o, "checksum", 0);
        members = ringc_get_u64(o, "members", 0);
    } else if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size >= 5) {
        const msgpack_object *p = o->via.array.ptr;
        checksum = u64_of(&p[0]);
        members = u64_of(&p[1]);
        added = &p[2];
        removed = &p[3];
        omitted = u64_of(&p[4]);
    } else {
        return;
    }
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (ctl->json) {
        char ts[40];
        ctl_timestamp(ts, sizeof(ts));
        sbuf_printf(&b, "{\"type\":\"%s\",\"ts\":\"%s\",", initial ? "ring" : "ring_changed", ts);
        ctl_json_checksum(&b, "ring_checksum", checksum);
        sbuf_printf(&b, ",\"ring_members\":%llu,\"added\":", (unsigned long long)members);
        ctl_to_json(&b, added);
        sbuf_adds(&b, ",\"removed\":");
        ctl_to_json(&b, removed);
        sbuf_printf(&b, ",\"omitted\":%llu}", (unsigned long long)omitted);
    } else {
        char when[32];
        time_t t = time(NULL);
        strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
        sbuf_printf(&b, "%s ring %016llx, %llu members", when, (unsigned long long)checksum,
                    (unsigned long long)members);
        text_list(&b, added, "+");
        text_list(&b, removed, "-");
        if (omitted > 0) {
            sbuf_printf(&b, " (+%llu more)", (unsigned long long)omitted);
        }
    }
    print_line(&b);
    sbuf_free(&b);
}

/* A shards_changed notification's params ([ring_checksum, owned, acquired, released,
 * omitted]), as one line. */
static void print_shards_change(struct ctl *ctl, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 5) {
        return;
    }
    const msgpack_object *p = o->via.array.ptr;
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (ctl->json) {
        char ts[40];
        ctl_timestamp(ts, sizeof(ts));
        sbuf_printf(&b, "{\"type\":\"shards_changed\",\"ts\":\"%s\",", ts);
        ctl_json_checksum(&b, "ring_checksum", u64_of(&p[0]));
        sbuf_printf(&b, ",\"owned\":%llu,\"acquired\":", (unsigned long long)u64_of(&p[1]));
        json_shards(&b, &p[2]);
        sbuf_adds(&b, ",\"released\":");
        json_shards(&b, &p[3]);
        sbuf_printf(&b, ",\"omitted\":%llu}", (unsigned long long)u64_of(&p[4]));
    } else {
        char when[32];
        time_t t = time(NULL);
        strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
        sbuf_printf(&b, "%s shards: %llu owned", when, (unsigned long long)u64_of(&p[1]));
        text_list(&b, &p[2], "+");
        text_list(&b, &p[3], "-");
        if (u64_of(&p[4]) > 0) {
            sbuf_printf(&b, " (+%llu more)", (unsigned long long)u64_of(&p[4]));
        }
    }
    print_line(&b);
    sbuf_free(&b);
}

/* The names of lease.h's states, by number (the API sends numbers). */
static const char *lease_state_text(uint64_t st)
{
    static const char *const names[] = { "none", "acquiring", "held", "releasing", "lost" };
    return st < RING_ARRAY_LEN(names) ? names[st] : "unknown";
}

/* A lease_changed notification's params ([shard, state, prev, epoch, expires_in_ms]). */
static void print_lease_change(struct ctl *ctl, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 5) {
        return;
    }
    const msgpack_object *p = o->via.array.ptr;
    struct sbuf b;
    sbuf_init(&b, 1 << 12);
    if (ctl->json) {
        char ts[40];
        ctl_timestamp(ts, sizeof(ts));
        sbuf_printf(&b,
                    "{\"type\":\"lease_changed\",\"ts\":\"%s\",\"shard\":%llu,\"state\":%llu,"
                    "\"prev\":%llu,\"epoch\":%llu,\"expires_in_ms\":%llu}",
                    ts, (unsigned long long)u64_of(&p[0]), (unsigned long long)u64_of(&p[1]),
                    (unsigned long long)u64_of(&p[2]), (unsigned long long)u64_of(&p[3]),
                    (unsigned long long)u64_of(&p[4]));
    } else {
        char when[32];
        time_t t = time(NULL);
        strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
        sbuf_printf(&b, "%s lease: shard %llu %s -> %s, epoch %llu", when,
                    (unsigned long long)u64_of(&p[0]), lease_state_text(u64_of(&p[2])),
                    lease_state_text(u64_of(&p[1])), (unsigned long long)u64_of(&p[3]));
    }
    print_line(&b);
    sbuf_free(&b);
}

int ctl_watch(struct ctl *ctl, const struct ctl_args *a)
{
    (void)a;
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "watch", "");
    if (rv != 0) {
        return ctl_report(ctl, "watch", rv);
    }
    print_change(ctl, res);
    for (;;) {
        struct rpc_msg msg;
        rv = ringc_read(ctl->c, &msg, -1);
        if (rv != 0) {
            return ctl_report(ctl, "watch", rv);
        }
        const msgpack_object *params;
        if (msg.kind == RPC_NOTIFICATION && rpc_method_is(&msg, "ring_changed") &&
            ringc_unpack(ctl->c, &msg, &params) == 0) {
            print_change(ctl, params);
        } else if (msg.kind == RPC_NOTIFICATION && rpc_method_is(&msg, "shards_changed") &&
                   ringc_unpack(ctl->c, &msg, &params) == 0) {
            print_shards_change(ctl, params);
        } else if (msg.kind == RPC_NOTIFICATION && rpc_method_is(&msg, "lease_changed") &&
                   ringc_unpack(ctl->c, &msg, &params) == 0) {
            print_lease_change(ctl, params);
        }
    }
}

/* ---- shards, stats, keys, join, leave --------------------------------------------------- */

int ctl_shards(struct ctl *ctl, const struct ctl_args *a)
{
    (void)a;
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "shards", "");
    if (rv != 0) {
        return ctl_report(ctl, "shards", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
        return 0;
    }
    const msgpack_object *owned = ringc_get(res, "owned");
    uint32_t n = owned != NULL && owned->type == MSGPACK_OBJECT_ARRAY ? owned->via.array.size : 0;
    printf("%u of %llu shards owned (ring %016llx)%s", n,
           (unsigned long long)ringc_get_u64(res, "shards", 0),
           (unsigned long long)ringc_get_u64(res, "ring_checksum", 0), n > 0 ? ":" : "");
    for (uint32_t i = 0; i < n; i++) {
        printf(" %llu", (unsigned long long)u64_of(&owned->via.array.ptr[i]));
    }
    printf("\n");
    const msgpack_object *leases = ringc_get(res, "leases");
    const msgpack_object *excl = ringc_get(res, "exclusive");
    if (excl == NULL || excl->type != MSGPACK_OBJECT_BOOLEAN || !excl->via.boolean ||
        leases == NULL || leases->type != MSGPACK_OBJECT_ARRAY) {
        return 0;
    }
    printf("%-7s %-10s %-12s %s\n", "SHARD", "STATE", "EPOCH", "EXPIRES_IN");
    for (uint32_t i = 0; i < leases->via.array.size; i++) {
        const msgpack_object *l = &leases->via.array.ptr[i];
        printf("%-7llu %-10s %-12llu %llums\n", (unsigned long long)ringc_get_u64(l, "shard", 0),
               lease_state_text(ringc_get_u64(l, "state", 0)),
               (unsigned long long)ringc_get_u64(l, "epoch", 0),
               (unsigned long long)ringc_get_u64(l, "expires_in_ms", 0));
    }
    return 0;
}

static void print_tree(const msgpack_object *o, const char *prefix)
{
    for (uint32_t i = 0; o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        char name[256];
        snprintf(name, sizeof(name), "%s%s", prefix, ctl_shown_n(k->via.str.ptr, k->via.str.size));
        if (v->type == MSGPACK_OBJECT_MAP) {
            char sub[260];
            snprintf(sub, sizeof(sub), "%s.", name);
            print_tree(v, sub);
            continue;
        }
        struct sbuf b;
        sbuf_init(&b, 1 << 16);
        if (v->type == MSGPACK_OBJECT_STR) {
            escape_text(&b, v->via.str.ptr, v->via.str.size);
        } else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                   (strstr(name, "checksum") != NULL)) {
            sbuf_printf(&b, "%016llx", (unsigned long long)v->via.u64);
        } else {
            ctl_to_json(&b, v);
        }
        printf("%-28s %s\n", name, b.data != NULL ? b.data : "");
        sbuf_free(&b);
    }
}

int ctl_stats(struct ctl *ctl, const struct ctl_args *a)
{
    (void)a;
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "stats", "");
    if (rv != 0) {
        return ctl_report(ctl, "stats", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
    } else {
        print_tree(res, "");
    }
    return 0;
}

/* The local node's refusal counters (keys()). */
static void print_refused(struct ctl *ctl)
{
    const msgpack_object *res;
    if (ringc_call(ctl->c, &res, ctl->timeout_ms, "keys", "") != 0) {
        return;
    }
    printf("refused here: %llu failed authentication, %llu plaintext, %llu sealed without a key, "
           "%llu replays, %llu clock skew\n",
           (unsigned long long)ringc_get_u64(res, "auth_failures", 0),
           (unsigned long long)ringc_get_u64(res, "plaintext_refused", 0),
           (unsigned long long)ringc_get_u64(res, "sealed_refused", 0),
           (unsigned long long)ringc_get_u64(res, "replays_refused", 0),
           (unsigned long long)ringc_get_u64(res, "clock_skew_refused", 0));
}

/* `ringctl keys` on a node without the runtime keyring: its own fingerprints and
 * refusals (the keys() API), and why the cluster is not asked. */
static int keys_here(struct ctl *ctl)
{
    char why[200];
    snprintf(why, sizeof(why), "%s", ringc_error_message(ctl->c));
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "keys", "");
    if (rv != 0) {
        return ctl_report(ctl, "keys", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
        return 0;
    }
    const msgpack_object *fps = ringc_get(res, "fingerprints");
    uint32_t n = fps != NULL && fps->type == MSGPACK_OBJECT_ARRAY ? fps->via.array.size : 0;
    printf("this node only (%s)\n", ctl_shown(why));
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *f = &fps->via.array.ptr[i];
        if (f->type == MSGPACK_OBJECT_STR) {
            printf("%s%s\n", ctl_shown_n(f->via.str.ptr, f->via.str.size),
                   i == 0 ? "  (primary)" : "");
        }
    }
    if (n == 0) {
        printf("no keys: gossip is plaintext (--insecure)\n");
    }
    print_refused(ctl);
    return 0;
}

static void print_keyop(const msgpack_object *res, int list)
{
    uint64_t ok = ringc_get_u64(res, "ok", 0), failed = ringc_get_u64(res, "failed", 0);
    uint64_t total = ok + failed;
    printf("%llu/%llu nodes ok\n", (unsigned long long)ok, (unsigned long long)total);
    const msgpack_object *fails = ringc_get(res, "failures");
    for (uint32_t i = 0;
         fails != NULL && fails->type == MSGPACK_OBJECT_ARRAY && i < fails->via.array.size; i++) {
        char id[130], why[100];
        ringc_get_str(&fails->via.array.ptr[i], "id", id, sizeof(id));
        ringc_get_str(&fails->via.array.ptr[i], "error", why, sizeof(why));
        printf("failed: %s: %s\n", ctl_shown(id), ctl_shown(why));
    }
    const msgpack_object *keys = ringc_get(res, "keys");
    for (uint32_t i = 0;
         list && keys != NULL && keys->type == MSGPACK_OBJECT_ARRAY && i < keys->via.array.size;
         i++) {
        const msgpack_object *k = &keys->via.array.ptr[i];
        char fp[20];
        ringc_get_str(k, "fingerprint", fp, sizeof(fp));
        uint64_t nodes = ringc_get_u64(k, "nodes", 0), primary = ringc_get_u64(k, "primary", 0);
        printf("%-16s  %llu/%llu nodes  (primary on %llu)\n", ctl_shown(fp),
               (unsigned long long)nodes, (unsigned long long)ok, (unsigned long long)primary);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/* keys [list | install KEY | use KEY | remove KEY]: the runtime keyring across the cluster.
 * The operation runs in ringd (keys_op); this polls keys_status until every member answered.
 * KEY is the base64 key (install) or the key or its fingerprint (use, remove). */
int ctl_keys(struct ctl *ctl, const struct ctl_args *a)
{
    const char *op = a->pos_count > 0 ? a->pos[0] : "list";
    int list = strcmp(op, "list") == 0;
    if (list != (a->pos_count <= 1) || (!list && strcmp(op, "install") != 0 &&
                                        strcmp(op, "use") != 0 && strcmp(op, "remove") != 0)) {
        fprintf(stderr, "ringctl keys: expected list, install KEY, use KEY or remove KEY\n");
        return CTL_EXIT_USAGE;
    }
    const msgpack_object *res;
    int rv = list ? ringc_call(ctl->c, &res, ctl->timeout_ms, "keys_op", "s", op)
                  : ringc_call(ctl->c, &res, ctl->timeout_ms, "keys_op", "ss", op, a->pos[1]);
    if (rv == RINGC_ERESPONSE && list && ringc_error(ctl->c) == -EINVAL) {
        /* no cluster-wide keyring here (no keys, or a plaintext rollout): this node's own */
        return keys_here(ctl);
    }
    if (rv != 0) {
        return ctl_report(ctl, "keys", rv);
    }
    uint64_t seq = ringc_get_u64(res, "seq", 0);
    /* Members answer within ringd's 5 s peer timeout; poll a little past it. */
    for (int waited = 0;; waited += 50) {
        rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "keys_status", "");
        if (rv != 0) {
            return ctl_report(ctl, "keys", rv);
        }
        if (ringc_get_u64(res, "seq", 0) != seq) {
            fprintf(stderr, "ringctl keys: another keys operation replaced this one\n");
            return CTL_EXIT_FAIL;
        }
        if (ringc_get_u64(res, "pending", 0) == 0 || waited > 7000) {
            break;
        }
        sleep_ms(50);
    }
    uint64_t failed = ringc_get_u64(res, "failed", 0) + ringc_get_u64(res, "pending", 0);
    if (ctl->json) {
        ctl_print_json(res);
    } else {
        print_keyop(res, list);
        if (list) {
            print_refused(ctl);
        }
    }
    return failed == 0 ? 0 : CTL_EXIT_FAIL;
}

int ctl_join(struct ctl *ctl, const struct ctl_args *a)
{
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "join", "l", (const char *const *)a->pos,
                        (size_t)a->pos_count);
    if (rv != 0) {
        return ctl_report(ctl, "join", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
    } else {
        printf("joining through %d seed%s\n", a->pos_count, a->pos_count == 1 ? "" : "s");
    }
    return 0;
}

int ctl_release(struct ctl *ctl, const struct ctl_args *a)
{
    const char *arg = a->pos[0];
    char *end = NULL;
    unsigned long long shard = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || shard > UINT32_MAX) {
        fprintf(stderr, "ringctl: release: \"%s\" is not a shard number\n", ctl_shown(arg));
        return 2;
    }
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "release", "u", (uint64_t)shard);
    if (rv != 0) {
        return ctl_report(ctl, "release", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
    } else {
        printf("released shard %llu (epoch %llu)\n", shard,
               (unsigned long long)ringc_get_u64(res, "epoch", 0));
    }
    return 0;
}

int ctl_leave(struct ctl *ctl, const struct ctl_args *a)
{
    (void)a;
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "leave", "");
    if (rv != 0) {
        return ctl_report(ctl, "leave", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
    } else {
        printf("leaving: ringd announces its leave, then exits\n");
    }
    return 0;
}

int ctl_force_leave(struct ctl *ctl, const struct ctl_args *a)
{
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "force_leave", "s", a->pos[0]);
    if (rv != 0) {
        return ctl_report(ctl, "force-leave", rv);
    }
    if (ctl->json) {
        ctl_print_json(res);
    } else {
        printf("%s is left: it leaves every node's table and ring as the news spreads\n",
               ctl_shown(a->pos[0]));
    }
    return 0;
}

/* ---- checksums -------------------------------------------------------------------------- */

struct group {
    uint64_t checksum, ring_checksum;
    struct sbuf ids;
    size_t count;
};

/* 1 when the local ringd has joined (a seed answered), else 0; an older ringd without
 * ready() counts as joined. */
static int joined_here(struct ctl *ctl)
{
    const msgpack_object *res;
    if (ringc_call(ctl->c, &res, ctl->timeout_ms, "ready", "") != 0) {
        return 1;
    }
    const msgpack_object *checks = ringc_get(res, "checks");
    const msgpack_object *j = checks != NULL ? ringc_get(checks, "joined") : NULL;
    return j == NULL || j->type != MSGPACK_OBJECT_BOOLEAN || j->via.boolean;
}

int ctl_checksums(struct ctl *ctl, const struct ctl_args *args)
{
    const msgpack_object *res;
    (void)args;
    if (!joined_here(ctl)) {
        /* its one-member view agrees with itself, which says nothing of the cluster */
        fprintf(stderr, "ringctl checksums: this node has not joined yet (no seed has "
                        "answered): nothing to compare\n");
        return CTL_EXIT_SPLIT;
    }
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "members", "");
    if (rv != 0) {
        return ctl_report(ctl, "checksums", rv);
    }
    const msgpack_object *list = ringc_get_array(res, "members");
    size_t n = list != NULL ? list->via.array.size : 0;
    struct group *groups = calloc(n + 1, sizeof(*groups));
    /* Members this node holds alive or suspect that do not answer are "unreachable" (a
     * split, or a node in trouble: exit 3); faulty ones are asked too, since on the other side
     * of a partition they are alive and answer with their own checksums (a split), while a
     * faulty one that does not answer is down, as this node believes ("down": no exit 3). */
    struct sbuf unreachable, down;
    sbuf_init(&unreachable, 1 << 20);
    sbuf_init(&down, 1 << 20);
    size_t group_count = 0, asked = 0, failed = 0, downs = 0;
    for (size_t i = 0; i < n && groups != NULL; i++) {
        const msgpack_object *m = &list->via.array.ptr[i];
        char id[130], addr[64], status[16];
        ringc_get_str(m, "id", id, sizeof(id));
        ringc_get_str(m, "address", addr, sizeof(addr));
        ringc_get_str(m, "status", status, sizeof(status));
        int faulty = strcmp(status, "faulty") == 0;
        if (strcmp(status, "alive") != 0 && strcmp(status, "suspect") != 0 && !faulty) {
            continue;
        }
        asked++;
        struct ring_addr a;
        struct ringc_checksums cs;
        rv = ring_addr_parse(addr, strlen(addr), &a) == 0 ? 0 : -EINVAL;
        rv = rv == 0 ? ringc_peer_checksums(&a, ctl->keys, ctl->timeout_ms, &cs) : rv;
        if (rv != 0) {
            const char *err = rv == RINGC_ERESPONSE ? "error answer" : strerror(-rv);
            struct sbuf *to = faulty ? &down : &unreachable;
            size_t *count = faulty ? &downs : &failed;
            if (ctl->json) {
                sbuf_adds(to, *count > 0 ? ",{\"id\":" : "{\"id\":");
                escape_json(to, id, strlen(id));
                sbuf_adds(to, ",\"address\":");
                escape_json(to, addr, strlen(addr));
                sbuf_adds(to, ",\"error\":");
                escape_json(to, err, strlen(err));
                sbuf_adds(to, "}");
            } else {
                sbuf_printf(to, "  %s (%s): %s\n", ctl_shown(id), ctl_shown(addr), err);
            }
            (*count)++;
            continue;
        }
        size_t g = 0;
        while (g < group_count &&
               (groups[g].checksum != cs.checksum || groups[g].ring_checksum != cs.ring_checksum)) {
            g++;
        }
        if (g == group_count) {
            groups[g].checksum = cs.checksum;
            groups[g].ring_checksum = cs.ring_checksum;
            sbuf_init(&groups[g].ids, 1 << 20);
            group_count++;
        }
        if (ctl->json) {
            sbuf_adds(&groups[g].ids, groups[g].count > 0 ? "," : "");
            escape_json(&groups[g].ids, cs.id, strlen(cs.id));
        } else {
            sbuf_printf(&groups[g].ids, "%s%s", groups[g].count > 0 ? ", " : "", ctl_shown(cs.id));
        }
        groups[g].count++;
    }
    int agree = group_count <= 1 && failed == 0;
    if (ctl->json) {
        printf("{\"agree\":%s,\"asked\":%zu,\"groups\":[", agree ? "true" : "false", asked);
        for (size_t g = 0; g < group_count; g++) {
            printf("%s{\"checksum\":\"%016llx\",\"ring_checksum\":\"%016llx\",\"members\":[%s]}",
                   g > 0 ? "," : "", (unsigned long long)groups[g].checksum,
                   (unsigned long long)groups[g].ring_checksum,
                   groups[g].ids.data != NULL ? groups[g].ids.data : "");
        }
        printf("],\"unreachable\":[%s],\"down\":[%s]}\n",
               unreachable.data != NULL ? unreachable.data : "",
               down.data != NULL ? down.data : "");
    } else {
        printf("%s: %zu members asked, %zu group%s\n", agree ? "agree" : "SPLIT or unreachable",
               asked, group_count, group_count == 1 ? "" : "s");
        for (size_t g = 0; g < group_count; g++) {
            printf("  checksum %016llx ring %016llx: %zu: %s\n",
                   (unsigned long long)groups[g].checksum,
                   (unsigned long long)groups[g].ring_checksum, groups[g].count,
                   groups[g].ids.data);
        }
        if (failed > 0) {
            printf("unreachable:\n%s", unreachable.data);
        }
        if (downs > 0) {
            printf("down (faulty here, not answering):\n%s", down.data);
        }
    }
    for (size_t g = 0; g < group_count; g++) {
        sbuf_free(&groups[g].ids);
    }
    free(groups);
    sbuf_free(&unreachable);
    sbuf_free(&down);
    return agree ? 0 : CTL_EXIT_SPLIT;
}

/* ---- version ---------------------------------------------------------------------------- */

/* ringctl's version, then ringd's (from stats(); a ringd older than this field says
 * "unknown"). ringd unreachable: the client's line is printed all the same, and exit 1. */
int ctl_version(struct ctl *ctl, const struct ctl_args *a)
{
    (void)a;
    char err[512], version[64] = "unknown", commit[64] = "unknown";
    int rv = ringc_connect(&ctl->c, ctl->socket, err, sizeof(err));
    const msgpack_object *res = NULL;
    if (rv == 0) {
        rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "stats", "");
    }
    if (rv == 0) {
        ringc_get_str(res, "version", version, sizeof(version));
        ringc_get_str(res, "commit", commit, sizeof(commit));
    }
    if (ctl->json) {
        printf("{\"ringctl\":{\"version\":\"%s\",\"commit\":\"%s\"}", ringd_version(),
               ringd_commit());
        if (rv == 0) {
            struct sbuf b;
            sbuf_init(&b, 4096);
            sbuf_adds(&b, ",\"ringd\":{\"version\":");
            escape_json(&b, version, strlen(version));
            sbuf_adds(&b, ",\"commit\":");
            escape_json(&b, commit, strlen(commit));
            sbuf_adds(&b, "}");
            printf("%s", b.data);
            sbuf_free(&b);
        }
        printf("}\n");
    } else {
        printf("ringctl %s (commit %s)\n", ringd_version(), ringd_commit());
        if (rv == 0) {
            printf("ringd %s (commit %s)\n", ctl_shown(version), ctl_shown(commit));
        }
    }
    fflush(stdout);
    if (ctl->c == NULL) {
        fprintf(stderr, "ringctl: %s\n", ctl_shown(err));
        return CTL_EXIT_FAIL;
    }
    return rv != 0 ? ctl_report(ctl, "version", rv) : 0;
}
