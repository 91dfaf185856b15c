/*
 * The fixed messages behind proto/vectors/codec/<name>.hex, shared by the unit test that
 * checks them and by tests/tools/gen_codec_vectors.c that writes them. Changing a message
 * here changes the wire vectors: regenerate them and say why in the commit.
 */
#ifndef RING_CODEC_VECTORS_H
#define RING_CODEC_VECTORS_H

#include <string.h>

#include "ring/codec.h"
#include "ring/members.h"

static inline void vec_member(struct member *m, const char *id, uint8_t a, uint16_t port)
{
    memset(m, 0, sizeof(*m));
    member_set_id(m, id, strlen(id));
    m->weight = 1;
    m->incarnation = 1;
    m->addr.family = RING_ADDR_V4;
    m->addr.ip[0] = 10;
    m->addr.ip[3] = a;
    m->addr.port = port;
}

static inline void vec_text(char *dst, uint8_t *len, const char *s)
{
    *len = (uint8_t)strlen(s);
    memcpy(dst, s, *len + 1);
}

/* A suspect update with a source, and an alive one with a v6 address, group and labels. */
static inline void vec_updates(struct codec_msg *msg)
{
    struct codec_update *u = &msg->updates[0];
    vec_member(&u->m, "node-c", 3, 7946);
    u->m.status = MEMBER_SUSPECT;
    u->m.incarnation = 42;
    vec_text(u->source, &u->source_len, "node-a");
    u = &msg->updates[1];
    vec_member(&u->m, "node-d", 4, 7946);
    u->m.addr.family = RING_ADDR_V6;
    memset(u->m.addr.ip, 0, 16);
    u->m.addr.ip[0] = 0xfd;
    u->m.addr.ip[15] = 4;
    u->m.incarnation = 1700000000;
    u->m.weight = 3;
    vec_text(u->m.group, &u->m.group_len, "g1");
    member_set_label(&u->m, "zone", "eu-west-1a");
    msg->update_count = 2;
}

/* The datagram and stream vectors, by file name; 0 for an unknown name. */
static inline int vec_msg(const char *name, struct codec_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    msg->seq = 7;
    vec_text(msg->from, &msg->from_len, "node-a");
    if (strcmp(name, "ping") == 0) {
        msg->type = CODEC_PING;
        vec_text(msg->target, &msg->target_len, "node-b");
        msg->checksum = UINT64_C(0x0123456789abcdef);
        vec_updates(msg);
    } else if (strcmp(name, "ack") == 0) {
        msg->type = CODEC_ACK;
        msg->checksum = UINT64_C(0xfedcba9876543210);
    } else if (strcmp(name, "nack") == 0) {
        msg->type = CODEC_NACK;
    } else if (strcmp(name, "ping_req") == 0) {
        msg->type = CODEC_PING_REQ;
        msg->seq = 70000;
        vec_text(msg->target, &msg->target_len, "node-b");
        msg->target_addr.family = RING_ADDR_V4;
        msg->target_addr.ip[0] = 10;
        msg->target_addr.ip[3] = 2;
        msg->target_addr.port = 7946;
    } else if (strcmp(name, "stream_ping") == 0) {
        msg->type = CODEC_STREAM_PING;
        vec_text(msg->target, &msg->target_len, "node-b");
    } else if (strcmp(name, "stream_ack") == 0) {
        msg->type = CODEC_STREAM_ACK;
        vec_updates(msg);
        msg->update_count = 1;
    } else {
        return 0;
    }
    return 1;
}

static const char *const vec_msg_names[] = { "ping",     "ack",         "nack",
                                             "ping_req", "stream_ping", "stream_ack" };

/* The group exchange vectors (proto/PROTOCOL.md section 12): a syn, an ack with buckets,
 * and a push carrying two summaries (one with a v4 and a v6 contact, one without contacts)
 * and the sender's buckets. 0 for an unknown name. */
static inline int vec_groups(const char *name, struct codec_groups *m)
{
    memset(m, 0, sizeof(*m));
    m->seq = 9;
    vec_text(m->from, &m->from_len, "node-a");
    vec_text(m->group, &m->group_len, "g1");
    m->digest = UINT64_C(0x0123456789abcdef);
    m->group_count = 3;
    if (strcmp(name, "group_syn") == 0) {
        m->type = CODEC_GROUP_SYN;
        return 1;
    }
    for (int b = 0; b < CODEC_GROUP_BUCKETS; b++) {
        m->buckets[b] = (uint16_t)(0x0101 * b);
    }
    m->has_buckets = 1;
    if (strcmp(name, "group_ack") == 0) {
        m->type = CODEC_GROUP_ACK;
        m->digest = UINT64_C(0xfedcba9876543210);
        return 1;
    }
    if (strcmp(name, "group_push") != 0) {
        return 0;
    }
    m->type = CODEC_GROUP_PUSH;
    struct codec_summary *s = &m->summaries[0];
    vec_text(s->name, &s->name_len, "g2");
    s->version = 5;
    s->size = 100;
    s->ring_checksum = UINT64_C(0x1122334455667788);
    s->contact_count = 2;
    vec_text(s->contacts[0].id, &s->contacts[0].id_len, "node-b");
    s->contacts[0].addr.family = RING_ADDR_V4;
    s->contacts[0].addr.ip[0] = 10;
    s->contacts[0].addr.ip[3] = 2;
    s->contacts[0].addr.port = 7946;
    vec_text(s->contacts[1].id, &s->contacts[1].id_len, "node-e");
    s->contacts[1].addr.family = RING_ADDR_V6;
    s->contacts[1].addr.ip[0] = 0xfd;
    s->contacts[1].addr.ip[15] = 5;
    s->contacts[1].addr.port = 7946;
    s = &m->summaries[1];
    vec_text(s->name, &s->name_len, "g3");
    s->version = 1;
    s->size = 1;
    s->ring_checksum = 42;
    m->summary_count = 2;
    return 1;
}

static const char *const vec_groups_names[] = { "group_syn", "group_ack", "group_push" };

/* The shard lease vectors (proto/PROTOCOL.md section 14): a request renewing one shard and
 * claiming two (one with the previous holder's release, one needing a 16-bit shard and a
 * 64-bit epoch), its ack (granted, held by another, stale), and a release. 0 for an unknown
 * name. */
static inline int vec_lease(const char *name, struct codec_lease *m)
{
    memset(m, 0, sizeof(*m));
    m->seq = (3u << 12) | 1u;
    vec_text(m->from, &m->from_len, "node-a");
    m->entry_count = 3;
    if (strcmp(name, "lease_req") == 0) {
        m->type = CODEC_LEASE_REQ;
        m->lease_ms = 3000;
        m->entries[0] = (struct codec_lease_entry){ 7, 4, 0 };
        m->entries[1] = (struct codec_lease_entry){ 300, 9, 8 };
        m->entries[2] = (struct codec_lease_entry){ 65535, UINT64_C(0x100000000), 0 };
        return 1;
    }
    if (strcmp(name, "lease_ack") == 0) {
        m->type = CODEC_LEASE_ACK;
        vec_text(m->from, &m->from_len, "node-b");
        m->entries[0] = (struct codec_lease_entry){ 7, 4, CODEC_LEASE_GRANTED };
        m->entries[1] = (struct codec_lease_entry){ 300, 8, CODEC_LEASE_HELD };
        m->entries[2] =
            (struct codec_lease_entry){ 65535, UINT64_C(0x100000001), CODEC_LEASE_STALE };
        return 1;
    }
    if (strcmp(name, "lease_release") == 0) {
        m->type = CODEC_LEASE_RELEASE;
        m->seq = 0;
        m->entry_count = 1;
        m->entries[0] = (struct codec_lease_entry){ 300, 8, 0 };
        return 1;
    }
    return 0;
}

static const char *const vec_lease_names[] = { "lease_req", "lease_ack", "lease_release" };

/* The sync (join) and sync reply vectors' header and members (put into |t| in order). */
static inline void vec_sync(struct codec_sync *hdr, struct members *t, int type)
{
    struct member m;
    memset(hdr, 0, sizeof(*hdr));
    hdr->type = (uint8_t)type;
    hdr->join = type == CODEC_SYNC;
    vec_text(hdr->from, &hdr->from_len, "node-a");
    vec_member(&m, "node-a", 1, 7946);
    members_put(t, &m);
    vec_member(&m, "node-b", 2, 7946);
    m.status = MEMBER_FAULTY;
    m.incarnation = 3;
    members_put(t, &m);
    hdr->checksum = members_checksum(t);
}

/* The sync_have vector: a catch-up from node-c, whose table holds node-a and node-b as in
 * the sync vector and itself; it carries only its own record, and a have of all three
 * (4-byte terms, ascending, in |have|, which holds 12 bytes). */
static inline void vec_sync_have(struct codec_sync *hdr, struct members *t, uint8_t have[12])
{
    struct member m[3];
    uint32_t terms[3];
    memset(hdr, 0, sizeof(*hdr));
    hdr->type = CODEC_SYNC;
    hdr->join = 1;
    vec_text(hdr->from, &hdr->from_len, "node-c");
    vec_member(&m[0], "node-a", 1, 7946);
    vec_member(&m[1], "node-b", 2, 7946);
    m[1].status = MEMBER_FAULTY;
    m[1].incarnation = 3;
    vec_member(&m[2], "node-c", 3, 7946);
    members_put(t, &m[2]);
    for (int i = 0; i < 3; i++) {
        terms[i] = codec_have_term(member_digest(&m[i]));
    }
    for (int i = 1; i < 3; i++) { /* insertion sort: ascending */
        for (int j = i; j > 0 && terms[j - 1] > terms[j]; j--) {
            uint32_t x = terms[j];
            terms[j] = terms[j - 1];
            terms[j - 1] = x;
        }
    }
    for (int i = 0; i < 3; i++) {
        have[4 * i] = (uint8_t)(terms[i] >> 24);
        have[4 * i + 1] = (uint8_t)(terms[i] >> 16);
        have[4 * i + 2] = (uint8_t)(terms[i] >> 8);
        have[4 * i + 3] = (uint8_t)terms[i];
    }
    hdr->has_have = 1;
    hdr->have_count = 3;
    hdr->have = have;
    hdr->checksum = members_checksum(t);
}

#endif
