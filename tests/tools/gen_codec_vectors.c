/*
 * Writes proto/vectors/codec/<name>.hex (the encoded message, hex) and <name>.txt (its
 * fields, for people and other implementations) for every message in
 * tests/unit/codec_vectors.h. Usage: gen_codec_vectors OUT_DIR.
 */
#include <stdio.h>
#include <stdlib.h>

#include "codec_vectors.h"
#include "ring/codec.h"
#include "ring/members.h"

static void write_hex(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.hex", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%02x%s", b[i], (i % 32 == 31 || i + 1 == n) ? "\n" : "");
    }
    fclose(f);
}

static void dump_addr(FILE *f, const char *key, const struct ring_addr *a)
{
    char text[RING_ADDR_STRLEN];
    if (ring_addr_format(a, text, sizeof(text)) < 0) {
        snprintf(text, sizeof(text), "-");
    }
    fprintf(f, "%s %s\n", key, text);
}

static void dump_member(FILE *f, const char *prefix, const struct member *m)
{
    fprintf(f, "%s.id %s\n", prefix, m->id);
    char key[64];
    snprintf(key, sizeof(key), "%s.addr", prefix);
    dump_addr(f, key, &m->addr);
    fprintf(f, "%s.status %u (%s)\n", prefix, m->status, member_status_name(m->status));
    fprintf(f, "%s.incarnation %llu\n", prefix, (unsigned long long)m->incarnation);
    fprintf(f, "%s.weight %u\n", prefix, m->weight);
    if (m->group_len > 0) {
        fprintf(f, "%s.group %s\n", prefix, m->group);
    }
    for (int i = 0; i < m->label_count; i++) {
        fprintf(f, "%s.label %s=%s\n", prefix, m->labels[i].key, m->labels[i].value);
    }
}

static FILE *open_txt(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.txt", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    return f;
}

static void dump_msg(const char *dir, const char *name, const struct codec_msg *msg)
{
    FILE *f = open_txt(dir, name);
    fprintf(f, "version %d\ntype %u\nseq %u\nfrom %s\n", CODEC_VERSION, msg->type, msg->seq,
            msg->from);
    if (msg->type == CODEC_PING || msg->type == CODEC_PING_REQ || msg->type == CODEC_STREAM_PING) {
        fprintf(f, "target %s\n", msg->target);
    }
    if (msg->type == CODEC_PING_REQ) {
        dump_addr(f, "target_addr", &msg->target_addr);
    }
    if (msg->type == CODEC_PING || msg->type == CODEC_ACK) {
        fprintf(f, "checksum 0x%016llx\n", (unsigned long long)msg->checksum);
    }
    fprintf(f, "updates %u\n", msg->update_count);
    for (int i = 0; i < msg->update_count; i++) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "update[%d]", i);
        dump_member(f, prefix, &msg->updates[i].m);
        if (msg->updates[i].source_len > 0) {
            fprintf(f, "%s.source %s\n", prefix, msg->updates[i].source);
        }
    }
    fclose(f);
}

static void dump_sync(const char *dir, const char *name, const struct codec_sync *hdr,
                      const struct members *t)
{
    FILE *f = open_txt(dir, name);
    fprintf(f, "version %d\ntype %u\nfrom %s\nchecksum 0x%016llx\njoin %u\nmembers %zu\n",
            CODEC_VERSION, hdr->type, hdr->from, (unsigned long long)hdr->checksum, hdr->join,
            members_count(t));
    for (size_t i = 0; i < members_count(t); i++) {
        struct member m;
        char prefix[32];
        members_get(t, i, &m);
        snprintf(prefix, sizeof(prefix), "member[%zu]", i);
        dump_member(f, prefix, &m);
    }
    if (hdr->has_have) {
        fprintf(f, "have %u terms (the high 32 bits of each record's member_digest, ascending):",
                hdr->have_count);
        for (uint32_t i = 0; i < hdr->have_count; i++) {
            const uint8_t *p = hdr->have + 4 * i;
            fprintf(f, " 0x%02x%02x%02x%02x", p[0], p[1], p[2], p[3]);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

static void gen_sync(const char *dir, const char *name, int type)
{
    static uint8_t buf[4096];
    uint8_t have[12];
    struct members *t = NULL;
    struct codec_sync hdr;
    if (members_new(&t, 0, NULL) != 0) {
        exit(1);
    }
    if (type == CODEC_SYNC && strcmp(name, "sync_have") == 0) {
        vec_sync_have(&hdr, t, have);
    } else {
        vec_sync(&hdr, t, type);
    }
    ssize_t n = codec_encode_sync(buf, sizeof(buf), &hdr, t);
    if (n < 0) {
        fprintf(stderr, "%s: encode failed (%zd)\n", name, n);
        exit(1);
    }
    write_hex(dir, name, buf, (size_t)n);
    dump_sync(dir, name, &hdr, t);
    members_del(t);
}

static void dump_groups(const char *dir, const char *name, const struct codec_groups *m)
{
    FILE *f = open_txt(dir, name);
    fprintf(f, "version %d\ntype %u\nseq %u\nfrom %s\ngroup %s\n", CODEC_VERSION, m->type, m->seq,
            m->from, m->group);
    fprintf(f, "digest 0x%016llx\ngroup_count %u\n", (unsigned long long)m->digest, m->group_count);
    if (m->has_buckets) {
        fprintf(f, "buckets");
        for (int b = 0; b < CODEC_GROUP_BUCKETS; b++) {
            fprintf(f, " %04x", m->buckets[b]);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "summaries %u\n", m->summary_count);
    for (int i = 0; i < m->summary_count; i++) {
        const struct codec_summary *s = &m->summaries[i];
        fprintf(f, "summary[%d].name %s\nsummary[%d].version %llu\nsummary[%d].size %u\n", i,
                s->name, i, (unsigned long long)s->version, i, s->size);
        fprintf(f, "summary[%d].ring_checksum 0x%016llx\n", i,
                (unsigned long long)s->ring_checksum);
        for (int k = 0; k < s->contact_count; k++) {
            char key[64];
            fprintf(f, "summary[%d].contact[%d].id %s\n", i, k, s->contacts[k].id);
            snprintf(key, sizeof(key), "summary[%d].contact[%d].addr", i, k);
            dump_addr(f, key, &s->contacts[k].addr);
        }
    }
    fclose(f);
}

static int gen_groups(const char *dir)
{
    static struct codec_groups m;
    static uint8_t buf[4096];
    for (size_t i = 0; i < sizeof(vec_groups_names) / sizeof(vec_groups_names[0]); i++) {
        vec_groups(vec_groups_names[i], &m);
        ssize_t n = codec_encode_groups(buf, sizeof(buf), &m);
        if (n < 0) {
            fprintf(stderr, "%s: encode failed (%zd)\n", vec_groups_names[i], n);
            return 1;
        }
        write_hex(dir, vec_groups_names[i], buf, (size_t)n);
        dump_groups(dir, vec_groups_names[i], &m);
    }
    return 0;
}

static void dump_lease(const char *dir, const char *name, const struct codec_lease *m)
{
    static const char *const fields[][3] = {
        [CODEC_LEASE_REQ] = { "shard", "epoch", "released" },
        [CODEC_LEASE_ACK] = { "shard", "epoch", "result" },
        [CODEC_LEASE_RELEASE] = { "shard", "epoch", "zero" },
    };
    FILE *f = open_txt(dir, name);
    fprintf(f, "version %d\ntype %u\nseq %u (round %u, part %u)\nfrom %s\n", CODEC_VERSION, m->type,
            m->seq, m->seq >> 12, m->seq & 0xfff, m->from);
    if (m->type == CODEC_LEASE_REQ) {
        fprintf(f, "lease_ms %u\n", m->lease_ms);
    }
    fprintf(f, "entries %u\n", m->entry_count);
    for (int i = 0; i < m->entry_count; i++) {
        const struct codec_lease_entry *e = &m->entries[i];
        fprintf(f, "entry[%d] %s %u %s %llu %s %llu\n", i, fields[m->type][0], e->shard,
                fields[m->type][1], (unsigned long long)e->epoch, fields[m->type][2],
                (unsigned long long)e->extra);
    }
    fclose(f);
}

static int gen_lease(const char *dir)
{
    static struct codec_lease m;
    static uint8_t buf[4096];
    for (size_t i = 0; i < sizeof(vec_lease_names) / sizeof(vec_lease_names[0]); i++) {
        vec_lease(vec_lease_names[i], &m);
        ssize_t n = codec_encode_lease(buf, sizeof(buf), &m);
        if (n < 0) {
            fprintf(stderr, "%s: encode failed (%zd)\n", vec_lease_names[i], n);
            return 1;
        }
        write_hex(dir, vec_lease_names[i], buf, (size_t)n);
        dump_lease(dir, vec_lease_names[i], &m);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct codec_msg msg;
    static uint8_t buf[4096];
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof(vec_msg_names) / sizeof(vec_msg_names[0]); i++) {
        vec_msg(vec_msg_names[i], &msg);
        ssize_t n = codec_encode(buf, sizeof(buf), &msg);
        if (n < 0) {
            fprintf(stderr, "%s: encode failed (%zd)\n", vec_msg_names[i], n);
            return 1;
        }
        write_hex(argv[1], vec_msg_names[i], buf, (size_t)n);
        dump_msg(argv[1], vec_msg_names[i], &msg);
    }
    gen_sync(argv[1], "sync", CODEC_SYNC);
    gen_sync(argv[1], "sync_reply", CODEC_SYNC_REPLY);
    gen_sync(argv[1], "sync_have", CODEC_SYNC);
    return gen_groups(argv[1]) || gen_lease(argv[1]);
}
