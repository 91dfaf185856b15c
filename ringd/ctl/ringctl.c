/*
 * ringctl: the command line for ringd's local API.
 *
 *   ringctl [--socket PATH] [--json] [--timeout DURATION_MS] COMMAND [ARGS]
 *     members [--group G] | lookup KEY [-n N] | ring | watch | checksums | join ADDR... |
 *     leave | stats | keys | groups | shards
 *
 * Exit status: 0 success; 1 ringd unreachable or an error answer; 2 usage; 3 (checksums) the
 * members disagree or some could not be asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "ring/error.h"
#include "escape.h"
#include "sbuf.h"

#define DEFAULT_SOCKET "/run/ringd/ringd.sock"
#define EXIT_FAIL      1
#define EXIT_USAGE     2
#define EXIT_SPLIT     3
/* Widest bar in `ringctl ring`. */
#define BAR_WIDTH 40

struct ctl {
    const char *socket;
    int json;
    int timeout_ms;
    struct ringc *c;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ringctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  members [--group G]  the member table: id, address, status, incarnation,\n"
            "                     labels, ring share (of group G: asked of a contact there)\n"
            "  lookup KEY [-n N]  the owner of KEY (N owners in ring order with -n)\n"
            "  ring               ring ownership per member, with a bar chart\n"
            "  watch              print every ring change (and change of owned shards)\n"
            "                     until interrupted\n"
            "  checksums          ask every member (over its gossip port) for its\n"
            "                     checksums and group members that agree (exit 3: split)\n"
            "  join ADDR...       join the cluster through ip:port seeds\n"
            "  leave              leave the cluster gracefully (ringd then exits)\n"
            "  stats              counters and state of the local ringd\n"
            "  keys               fingerprints of the gossip keys (primary first) and\n"
            "                     packets refused by encryption\n"
            "  groups             sub-sharding: every group known, its size, ring checksum\n"
            "                     and contacts (ringd --group)\n"
            "  shards             the logical shards this node owns (ringd --shards)\n"
            "\n"
            "options:\n"
            "  --socket PATH      ringd's local API socket [$RINGD_SOCKET, else %s]\n"
            "  --json             print JSON (one object; watch: one per line)\n"
            "  --timeout MS       wait this long for an answer [5000]\n",
            DEFAULT_SOCKET);
}

/* ---- text for a person ---------------------------------------------------------------- */

#define SHOWN_SLOTS 8
#define SHOWN_BYTES 1024

/* |len| bytes of |s| as a person may see them: escape_text() (a control byte, a bidi control
 * or invalid UTF-8 shows as \xNN, never raw). The result lives in one of SHOWN_SLOTS static
 * buffers, so a printf may hold that many. Every string ringd or a peer sent, and every echo
 * of an argument, goes through here before a table or message prints it. */
static const char *shown_n(const char *s, size_t len)
{
    static char bufs[SHOWN_SLOTS][SHOWN_BYTES];
    static unsigned next;
    return escape_text_buf(bufs[next++ % SHOWN_SLOTS], SHOWN_BYTES, s, len);
}

static const char *shown(const char *s)
{
    return shown_n(s, strlen(s));
}

/* ---- msgpack to JSON ------------------------------------------------------------------ */

static void to_json(struct sbuf *b, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        sbuf_adds(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        sbuf_adds(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        sbuf_printf(b, "%llu", (unsigned long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        sbuf_printf(b, "%lld", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        sbuf_printf(b, "%.9g", o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
        escape_json(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        sbuf_adds(b, "[");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            sbuf_adds(b, i > 0 ? "," : "");
            to_json(b, &o->via.array.ptr[i]);
        }
        sbuf_adds(b, "]");
        break;
    case MSGPACK_OBJECT_MAP:
        sbuf_adds(b, "{");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            sbuf_adds(b, i > 0 ? "," : "");
            if (k->type == MSGPACK_OBJECT_STR) {
                to_json(b, k);
            } else {
                struct sbuf kb;
                sbuf_init(&kb, 1 << 16);
                to_json(&kb, k);
                escape_json(b, kb.data != NULL ? kb.data : "", kb.len);
                sbuf_free(&kb);
            }
            sbuf_adds(b, ":");
            to_json(b, &o->via.map.ptr[i].val);
        }
        sbuf_adds(b, "}");
        break;
    default:
        sbuf_adds(b, "null");
        break;
    }
}

static void print_json(const msgpack_object *o)
{
    struct sbuf b;
    sbuf_init(&b, 64u << 20);
    to_json(&b, o);
    printf("%s\n", b.data != NULL ? b.data : "null");
    fflush(stdout);
    sbuf_free(&b);
}

/* ---- calls ---------------------------------------------------------------------------- */

static int report(struct ctl *ctl, const char *what, int rv)
{
    if (rv == RINGC_ERESPONSE) {
        fprintf(stderr, "ringctl: %s: %s: %s\n", what, shown(ringc_error_code(ctl->c)),
                shown(ringc_error_message(ctl->c)));
    } else if (rv == -ETIMEDOUT) {
        fprintf(stderr, "ringctl: %s: no answer from ringd at %s within %d ms\n", what,
                shown(ctl->socket), ctl->timeout_ms);
    } else if (rv == -ECONNRESET) {
        fprintf(stderr, "ringctl: %s: ringd closed the connection\n", what);
    } else {
        fprintf(stderr, "ringctl: %s: %s\n", what, strerror(-rv));
    }
    return EXIT_FAIL;
}

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
                              shown_n(k->via.str.ptr, k->via.str.size),
                              shown_n(v->via.str.ptr, v->via.str.size));
    }
}

static void print_members(const msgpack_object *res)
{
    const msgpack_object *list = ringc_get_array(res, "members");
    printf("%-24s %-24s %-8s %-12s %-20s %7s\n", "ID", "ADDRESS", "STATUS", "INCARNATION", "LABELS",
           "SHARE");
    for (uint32_t i = 0; list != NULL && i < list->via.array.size; i++) {
        const msgpack_object *m = &list->via.array.ptr[i];
        char id[130], addr[64], status[16], labels[256];
        ringc_get_str(m, "id", id, sizeof(id));
        ringc_get_str(m, "address", addr, sizeof(addr));
        ringc_get_str(m, "status", status, sizeof(status));
        format_labels(ringc_get(m, "labels"), labels, sizeof(labels));
        printf("%-24s %-24s %-8s %-12llu %-20s %6.2f%%\n", shown(id), shown(addr), shown(status),
               (unsigned long long)ringc_get_u64(m, "incarnation", 0), labels,
               100.0 * ringc_get_f64(m, "share", 0));
    }
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
static int members_elsewhere(struct ctl *ctl, const msgpack_object *group, const char *name)
{
    const msgpack_object *contacts = ringc_get_array(group, "contacts");
    for (uint32_t i = 0; contacts != NULL && i < contacts->via.array.size; i++) {
        char addr[64];
        ringc_get_str(&contacts->via.array.ptr[i], "address", addr, sizeof(addr));
        struct ring_addr a;
        if (ring_addr_parse(addr, strlen(addr), &a) != 0) {
            continue;
        }
        struct ringc_peer_result r;
        const msgpack_object *res;
        int rv = ringc_peer_call(&a, ctl->timeout_ms, "members", &r, &res);
        if (rv == 0) {
            ctl->json ? print_json(res) : print_members(res);
        }
        ringc_peer_result_free(&r);
        if (rv == 0) {
            return 0;
        }
    }
    fprintf(stderr, "ringctl: members: no contact of group %s answered\n", shown(name));
    return EXIT_FAIL;
}

static int cmd_members(struct ctl *ctl, int argc, char **argv)
{
    const char *group = NULL;
    if (argc == 2 && strcmp(argv[0], "--group") == 0) {
        group = argv[1];
    } else if (argc != 0) {
        fprintf(stderr, "ringctl: members takes no arguments but --group G\n");
        return EXIT_USAGE;
    }
    const msgpack_object *res;
    if (group != NULL) {
        int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "groups", "");
        if (rv != 0) {
            return report(ctl, "members --group", rv);
        }
        const msgpack_object *g = find_group(res, group);
        if (g == NULL) {
            fprintf(stderr, "ringctl: members: no group %s is known here (see ringctl groups)\n",
                    shown(group));
            return EXIT_FAIL;
        }
        const msgpack_object *local = ringc_get(g, "local");
        if (local == NULL || local->type != MSGPACK_OBJECT_BOOLEAN || !local->via.boolean) {
            return members_elsewhere(ctl, g, group);
        }
    }
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "members", "");
    if (rv != 0) {
        return report(ctl, "members", rv);
    }
    ctl->json ? print_json(res) : print_members(res);
    return 0;
}

/* groups: one line per group known here; contacts that failed from here are marked "!". */
static int cmd_groups(struct ctl *ctl, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "ringctl: groups takes no arguments\n");
        return EXIT_USAGE;
    }
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "groups", "");
    if (rv != 0) {
        return report(ctl, "groups", rv);
    }
    if (ctl->json) {
        print_json(res);
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
        char shown_name[SHOWN_BYTES + 2];
        snprintf(shown_name, sizeof(shown_name), "%s%s", shown(name), here ? " *" : "");
        printf("%-20s %6llu %016llx ", shown_name, (unsigned long long)ringc_get_u64(g, "size", 0),
               (unsigned long long)ringc_get_u64(g, "ring_checksum", 0));
        const msgpack_object *cs = ringc_get_array(g, "contacts");
        for (uint32_t c = 0; cs != NULL && c < cs->via.array.size; c++) {
            char id[130], addr[64];
            ringc_get_str(&cs->via.array.ptr[c], "id", id, sizeof(id));
            ringc_get_str(&cs->via.array.ptr[c], "address", addr, sizeof(addr));
            const msgpack_object *f = ringc_get(&cs->via.array.ptr[c], "failed");
            int failed = f != NULL && f->type == MSGPACK_OBJECT_BOOLEAN && f->via.boolean;
            printf("%s%s%s(%s)", c > 0 ? " " : "", failed ? "!" : "", shown(id), shown(addr));
        }
        printf("\n");
    }
    printf("(* this node's group)\n");
    return 0;
}

static int cmd_lookup(struct ctl *ctl, int argc, char **argv)
{
    const char *key = NULL;
    long n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            char *end;
            n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > 64) {
                fprintf(stderr, "ringctl: lookup: -n takes a number from 1 to 64\n");
                return EXIT_USAGE;
            }
        } else if (key == NULL) {
            key = argv[i];
        } else {
            fprintf(stderr, "ringctl: lookup takes one KEY [-n N]\n");
            return EXIT_USAGE;
        }
    }
    if (key == NULL) {
        fprintf(stderr, "ringctl: lookup: missing KEY\n");
        return EXIT_USAGE;
    }
    const msgpack_object *res;
    int rv = n == 0 ? ringc_call(ctl->c, &res, ctl->timeout_ms, "lookup", "s", key)
                    : ringc_call(ctl->c, &res, ctl->timeout_ms, "lookup_n", "su", key, (uint64_t)n);
    if (rv != 0) {
        return report(ctl, "lookup", rv);
    }
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (n == 0) {
        char id[130], addr[64], group[80] = "";
        ringc_get_str(res, "id", id, sizeof(id));
        ringc_get_str(res, "address", addr, sizeof(addr));
        ringc_get_str(res, "group", group, sizeof(group));
        const msgpack_object *local = ringc_get(res, "local");
        int via = local != NULL && local->type == MSGPACK_OBJECT_BOOLEAN && !local->via.boolean;
        const msgpack_object *shard = ringc_get(res, "shard");
        if (ctl->json) {
            sbuf_adds(&b, "{\"key\":");
            escape_json(&b, key, strlen(key));
            if (shard != NULL) {
                sbuf_printf(&b, ",\"shard\":%llu", (unsigned long long)shard->via.u64);
            }
            sbuf_adds(&b, ",\"id\":");
            escape_json(&b, id, strlen(id));
            sbuf_adds(&b, ",\"address\":");
            escape_json(&b, addr, strlen(addr));
            if (group[0] != '\0') {
                sbuf_adds(&b, ",\"group\":");
                escape_json(&b, group, strlen(group));
                sbuf_adds(&b, via ? ",\"local\":false" : ",\"local\":true");
            }
            sbuf_adds(&b, "}");
        } else if (shard != NULL && group[0] == '\0') {
            sbuf_printf(&b, "%s -> shard %llu -> %s (%s)", shown(key),
                        (unsigned long long)shard->via.u64, shown(id), shown(addr));
        } else if (shard != NULL && via) {
            sbuf_printf(&b, "%s -> shard %llu -> group %s, via contact %s (%s)", shown(key),
                        (unsigned long long)shard->via.u64, shown(group), shown(id), shown(addr));
        } else if (shard != NULL) {
            sbuf_printf(&b, "%s -> shard %llu -> %s (%s), group %s", shown(key),
                        (unsigned long long)shard->via.u64, shown(id), shown(addr), shown(group));
        } else if (group[0] == '\0') {
            sbuf_printf(&b, "%s -> %s (%s)", shown(key), shown(id), shown(addr));
        } else if (via) {
            sbuf_printf(&b, "%s -> group %s, via contact %s (%s)", shown(key), shown(group),
                        shown(id), shown(addr));
        } else {
            sbuf_printf(&b, "%s -> %s (%s), group %s", shown(key), shown(id), shown(addr),
                        shown(group));
        }
    } else if (ctl->json) {
        sbuf_adds(&b, "{\"key\":");
        escape_json(&b, key, strlen(key));
        sbuf_adds(&b, ",\"owners\":");
        to_json(&b, res);
        sbuf_adds(&b, "}");
    } else {
        sbuf_printf(&b, "%s ->", shown(key));
        for (uint32_t i = 0; res->type == MSGPACK_OBJECT_ARRAY && i < res->via.array.size; i++) {
            char id[130], addr[64];
            ringc_get_str(&res->via.array.ptr[i], "id", id, sizeof(id));
            ringc_get_str(&res->via.array.ptr[i], "address", addr, sizeof(addr));
            sbuf_printf(&b, "%s %s (%s)", i > 0 ? "," : "", shown(id), shown(addr));
        }
    }
    printf("%s\n", b.data != NULL ? b.data : "");
    sbuf_free(&b);
    return 0;
}

static int cmd_ring(struct ctl *ctl, int argc, char **argv)
{
    const msgpack_object *res;
    (void)argc;
    (void)argv;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "ring", "");
    if (rv != 0) {
        return report(ctl, "ring", rv);
    }
    if (ctl->json) {
        print_json(res);
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
        const msgpack_object *m = &list->via.array.ptr[i];
        char id[130], bar[BAR_WIDTH * 3 + 1];
        ringc_get_str(m, "id", id, sizeof(id));
        double s = ringc_get_f64(m, "share", 0);
        int w = max > 0 ? (int)(s / max * BAR_WIDTH + 0.5) : 0;
        size_t k = 0;
        for (int j = 0; j < w; j++) {
            memcpy(bar + k, "\xe2\x96\x88", 3); /* U+2588 FULL BLOCK */
            k += 3;
        }
        bar[k] = '\0';
        printf("%-24s %6.2f%% %s\n", shown(id), 100.0 * s, bar);
    }
    return 0;
}

/* A watch() result (a map) or a ring_changed notification's params
 * ([checksum, members, added, removed, omitted]), printed as one line. */
static void print_change(struct ctl *ctl, const msgpack_object *o)
{
    uint64_t checksum = 0, members = 0, omitted = 0;
    const msgpack_object *lists[2] = { NULL, NULL };
    if (o->type == MSGPACK_OBJECT_MAP) {
        checksum = ringc_get_u64(o, "checksum", 0);
        members = ringc_get_u64(o, "members", 0);
    } else if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size >= 5) {
        const msgpack_object *p = o->via.array.ptr;
        checksum = p[0].via.u64;
        members = p[1].via.u64;
        lists[0] = &p[2];
        lists[1] = &p[3];
        omitted = p[4].via.u64;
    }
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (ctl->json) {
        sbuf_printf(&b, "{\"checksum\":%llu,\"members\":%llu", (unsigned long long)checksum,
                    (unsigned long long)members);
        const char *keys[] = { "added", "removed" };
        for (size_t k = 0; k < 2 && lists[0] != NULL; k++) {
            sbuf_printf(&b, ",\"%s\":", keys[k]);
            to_json(&b, lists[k]);
        }
        sbuf_printf(&b, ",\"omitted\":%llu}", (unsigned long long)omitted);
    } else {
        char when[32];
        time_t t = time(NULL);
        strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
        sbuf_printf(&b, "%s ring %016llx, %llu members", when, (unsigned long long)checksum,
                    (unsigned long long)members);
        const char *signs[] = { "+", "-" };
        for (size_t k = 0; k < 2 && lists[0] != NULL; k++) {
            const msgpack_object *l = lists[k];
            for (uint32_t i = 0; l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size; i++) {
                const msgpack_object *id = &l->via.array.ptr[i];
                if (id->type == MSGPACK_OBJECT_STR) {
                    sbuf_printf(&b, " %s%s", signs[k], shown_n(id->via.str.ptr, id->via.str.size));
                }
            }
        }
        if (omitted > 0) {
            sbuf_printf(&b, " (+%llu more)", (unsigned long long)omitted);
        }
    }
    printf("%s\n", b.data != NULL ? b.data : "");
    fflush(stdout);
    sbuf_free(&b);
}

/* A shards_changed notification's params ([ring_checksum, owned, acquired, released,
 * omitted]), printed as one line. */
static void print_shards_change(struct ctl *ctl, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 5) {
        return;
    }
    const msgpack_object *p = o->via.array.ptr;
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (ctl->json) {
        sbuf_printf(&b, "{\"ring_checksum\":%llu,\"owned\":%llu,\"acquired\":",
                    (unsigned long long)p[0].via.u64, (unsigned long long)p[1].via.u64);
        to_json(&b, &p[2]);
        sbuf_adds(&b, ",\"released\":");
        to_json(&b, &p[3]);
        sbuf_printf(&b, ",\"omitted\":%llu}", (unsigned long long)p[4].via.u64);
    } else {
        char when[32];
        time_t t = time(NULL);
        strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
        sbuf_printf(&b, "%s shards: %llu owned", when, (unsigned long long)p[1].via.u64);
        const char *signs[] = { "+", "-" };
        for (size_t k = 0; k < 2; k++) {
            const msgpack_object *l = &p[2 + k];
            for (uint32_t i = 0; l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size; i++) {
                const msgpack_object *id = &l->via.array.ptr[i];
                if (id->type == MSGPACK_OBJECT_STR) {
                    sbuf_printf(&b, " %s%s", signs[k], shown_n(id->via.str.ptr, id->via.str.size));
                }
            }
        }
        if (p[4].via.u64 > 0) {
            sbuf_printf(&b, " (+%llu more)", (unsigned long long)p[4].via.u64);
        }
    }
    printf("%s\n", b.data != NULL ? b.data : "");
    fflush(stdout);
    sbuf_free(&b);
}

static int cmd_shards(struct ctl *ctl, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "ringctl: shards takes no arguments\n");
        return EXIT_USAGE;
    }
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "owned_shards", "");
    if (rv != 0) {
        return report(ctl, "shards", rv);
    }
    if (ctl->json) {
        print_json(res);
        return 0;
    }
    const msgpack_object *owned = ringc_get(res, "owned");
    uint32_t n = owned != NULL && owned->type == MSGPACK_OBJECT_ARRAY ? owned->via.array.size : 0;
    printf("%u of %llu shards owned (ring %016llx)%s", n,
           (unsigned long long)ringc_get_u64(res, "shards", 0),
           (unsigned long long)ringc_get_u64(res, "ring_checksum", 0), n > 0 ? ":" : "");
    for (uint32_t i = 0; i < n; i++) {
        printf(" %llu", (unsigned long long)owned->via.array.ptr[i].via.u64);
    }
    printf("\n");
    return 0;
}

static int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
    const msgpack_object *res;
    (void)argc;
    (void)argv;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "watch", "");
    if (rv != 0) {
        return report(ctl, "watch", rv);
    }
    print_change(ctl, res);
    for (;;) {
        struct rpc_msg msg;
        rv = ringc_read(ctl->c, &msg, -1);
        if (rv != 0) {
            return report(ctl, "watch", rv);
        }
        const msgpack_object *params;
        if (msg.kind == RPC_NOTIFICATION && rpc_method_is(&msg, "ring_changed") &&
            ringc_unpack(ctl->c, &msg, &params) == 0) {
            print_change(ctl, params);
        } else if (msg.kind == RPC_NOTIFICATION && rpc_method_is(&msg, "shards_changed") &&
                   ringc_unpack(ctl->c, &msg, &params) == 0) {
            print_shards_change(ctl, params);
        }
    }
}

struct group {
    uint64_t checksum, ring_checksum;
    struct sbuf ids;
    size_t count;
};

static int cmd_checksums(struct ctl *ctl, int argc, char **argv)
{
    const msgpack_object *res;
    (void)argc;
    (void)argv;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "members", "");
    if (rv != 0) {
        return report(ctl, "checksums", rv);
    }
    const msgpack_object *list = ringc_get_array(res, "members");
    size_t n = list != NULL ? list->via.array.size : 0;
    struct group *groups = calloc(n + 1, sizeof(*groups));
    struct sbuf unreachable;
    sbuf_init(&unreachable, 1 << 20);
    size_t group_count = 0, asked = 0, failed = 0;
    for (size_t i = 0; i < n && groups != NULL; i++) {
        const msgpack_object *m = &list->via.array.ptr[i];
        char id[130], addr[64], status[16];
        ringc_get_str(m, "id", id, sizeof(id));
        ringc_get_str(m, "address", addr, sizeof(addr));
        ringc_get_str(m, "status", status, sizeof(status));
        if (strcmp(status, "alive") != 0 && strcmp(status, "suspect") != 0) {
            continue;
        }
        asked++;
        struct ring_addr a;
        struct ringc_checksums cs;
        rv = ring_addr_parse(addr, strlen(addr), &a) == 0 ? 0 : -EINVAL;
        rv = rv == 0 ? ringc_peer_checksums(&a, ctl->timeout_ms, &cs) : rv;
        if (rv != 0) {
            const char *err = rv == RINGC_ERESPONSE ? "error answer" : strerror(-rv);
            if (ctl->json) {
                sbuf_adds(&unreachable, failed > 0 ? ",{\"id\":" : "{\"id\":");
                escape_json(&unreachable, id, strlen(id));
                sbuf_adds(&unreachable, ",\"address\":");
                escape_json(&unreachable, addr, strlen(addr));
                sbuf_adds(&unreachable, ",\"error\":");
                escape_json(&unreachable, err, strlen(err));
                sbuf_adds(&unreachable, "}");
            } else {
                sbuf_printf(&unreachable, "  %s (%s): %s\n", shown(id), shown(addr), err);
            }
            failed++;
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
            sbuf_printf(&groups[g].ids, "%s%s", groups[g].count > 0 ? ", " : "", shown(cs.id));
        }
        groups[g].count++;
    }
    int agree = group_count <= 1 && failed == 0;
    if (ctl->json) {
        printf("{\"agree\":%s,\"asked\":%zu,\"groups\":[", agree ? "true" : "false", asked);
        for (size_t g = 0; g < group_count; g++) {
            printf("%s{\"checksum\":%llu,\"ring_checksum\":%llu,\"members\":[%s]}",
                   g > 0 ? "," : "", (unsigned long long)groups[g].checksum,
                   (unsigned long long)groups[g].ring_checksum,
                   groups[g].ids.data != NULL ? groups[g].ids.data : "");
        }
        printf("],\"unreachable\":[%s]}\n", unreachable.data != NULL ? unreachable.data : "");
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
    }
    for (size_t g = 0; g < group_count; g++) {
        sbuf_free(&groups[g].ids);
    }
    free(groups);
    sbuf_free(&unreachable);
    return agree ? 0 : EXIT_SPLIT;
}

static int cmd_join(struct ctl *ctl, int argc, char **argv)
{
    const msgpack_object *res;
    if (argc == 0) {
        fprintf(stderr, "ringctl: join: give at least one ip:port\n");
        return EXIT_USAGE;
    }
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "join", "l", (const char *const *)argv,
                        (size_t)argc);
    if (rv != 0) {
        return report(ctl, "join", rv);
    }
    if (ctl->json) {
        print_json(res);
    } else {
        printf("joining through %d seed%s\n", argc, argc == 1 ? "" : "s");
    }
    return 0;
}

static int cmd_simple(struct ctl *ctl, const char *method, const char *done)
{
    const msgpack_object *res;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, method, "");
    if (rv != 0) {
        return report(ctl, method, rv);
    }
    if (ctl->json || done == NULL) {
        print_json(res);
    } else {
        printf("%s\n", done);
    }
    return 0;
}

static void print_tree(const msgpack_object *o, const char *prefix)
{
    for (uint32_t i = 0; o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        char name[256];
        snprintf(name, sizeof(name), "%s%s", prefix, shown_n(k->via.str.ptr, k->via.str.size));
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
            to_json(&b, v);
        }
        printf("%-28s %s\n", name, b.data != NULL ? b.data : "");
        sbuf_free(&b);
    }
}

static int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
    const msgpack_object *res;
    (void)argc;
    (void)argv;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "stats", "");
    if (rv != 0) {
        return report(ctl, "stats", rv);
    }
    if (ctl->json) {
        print_json(res);
    } else {
        print_tree(res, "");
    }
    return 0;
}

/* keys: the gossip keys in use (fingerprints, primary first) and what encryption refused. */
static int cmd_keys(struct ctl *ctl, int argc, char **argv)
{
    const msgpack_object *res;
    (void)argc;
    (void)argv;
    int rv = ringc_call(ctl->c, &res, ctl->timeout_ms, "keys", "");
    if (rv != 0) {
        return report(ctl, "keys", rv);
    }
    if (ctl->json) {
        print_json(res);
        return 0;
    }
    const msgpack_object *fps = ringc_get(res, "fingerprints");
    uint32_t n = fps != NULL && fps->type == MSGPACK_OBJECT_ARRAY ? fps->via.array.size : 0;
    if (n == 0) {
        printf("encryption off: gossip is plaintext (no --keyfile)\n");
    }
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *fp = &fps->via.array.ptr[i];
        printf("%-10s %s\n", i == 0 ? "primary" : "secondary",
               fp->type == MSGPACK_OBJECT_STR ? shown_n(fp->via.str.ptr, fp->via.str.size) : "");
    }
    printf("refused: %llu failed authentication, %llu plaintext, %llu sealed without a key\n",
           (unsigned long long)ringc_get_u64(res, "auth_failures", 0),
           (unsigned long long)ringc_get_u64(res, "plaintext_refused", 0),
           (unsigned long long)ringc_get_u64(res, "sealed_refused", 0));
    return 0;
}

static int run(struct ctl *ctl, const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "members") == 0) {
        return cmd_members(ctl, argc, argv);
    }
    if (strcmp(cmd, "lookup") == 0) {
        return cmd_lookup(ctl, argc, argv);
    }
    if (strcmp(cmd, "ring") == 0) {
        return cmd_ring(ctl, argc, argv);
    }
    if (strcmp(cmd, "watch") == 0) {
        return cmd_watch(ctl, argc, argv);
    }
    if (strcmp(cmd, "checksums") == 0) {
        return cmd_checksums(ctl, argc, argv);
    }
    if (strcmp(cmd, "join") == 0) {
        return cmd_join(ctl, argc, argv);
    }
    if (strcmp(cmd, "leave") == 0) {
        return cmd_simple(ctl, "leave", "leaving: ringd announces its leave, then exits");
    }
    if (strcmp(cmd, "groups") == 0) {
        return cmd_groups(ctl, argc, argv);
    }
    if (strcmp(cmd, "stats") == 0) {
        return cmd_stats(ctl, argc, argv);
    }
    if (strcmp(cmd, "keys") == 0) {
        return cmd_keys(ctl, argc, argv);
    }
    if (strcmp(cmd, "shards") == 0) {
        return cmd_shards(ctl, argc, argv);
    }
    fprintf(stderr, "ringctl: unknown command \"%s\" (see ringctl --help)\n", shown(cmd));
    return EXIT_USAGE;
}

static int is_command(const char *s)
{
    static const char *const cmds[] = { "members", "lookup", "ring", "watch",  "checksums", "join",
                                        "leave",   "stats",  "keys", "groups", "shards" };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(s, cmds[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ctl ctl = { .socket = getenv("RINGD_SOCKET"), .timeout_ms = 5000 };
    if (ctl.socket == NULL || ctl.socket[0] == '\0') {
        ctl.socket = DEFAULT_SOCKET;
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctl.json = 1;
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            ctl.socket = argv[++i];
        } else if (strncmp(argv[i], "--socket=", 9) == 0) {
            ctl.socket = argv[i] + 9;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            ctl.timeout_ms = atoi(argv[++i]);
        } else {
            fprintf(stderr, "ringctl: unknown option %s (see ringctl --help)\n", shown(argv[i]));
            return EXIT_USAGE;
        }
    }
    if (i == argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i++];
    /* Options may also follow the command: ringctl members --json. */
    int rest = 0;
    char **args = argv + i;
    for (int j = i; j < argc; j++) {
        if (strcmp(argv[j], "--json") == 0) {
            ctl.json = 1;
        } else if (strcmp(argv[j], "--socket") == 0 && j + 1 < argc) {
            ctl.socket = argv[++j];
        } else {
            args[rest++] = argv[j];
        }
    }
    if (!is_command(cmd)) {
        return run(&ctl, cmd, rest, args);
    }
    char err[512];
    int rv = ringc_connect(&ctl.c, ctl.socket, err, sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "ringctl: %s\n", shown(err));
        return EXIT_FAIL;
    }
    rv = run(&ctl, cmd, rest, args);
    ringc_close(ctl.c);
    return rv;
}
