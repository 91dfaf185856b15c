/* members internals shared between member.c, members.c and the tests. */
#ifndef RING_MEMBERS_INT_H
#define RING_MEMBERS_INT_H

#include "ring/members.h"

/* member_digest() over loose fields, for records that are not a struct member. */
/* The route digest of a member that owns keys: its id and address (members_routes_checksum). */
uint64_t members__route_digest(const char *id, size_t id_len, const struct ring_addr *addr);
uint64_t members__digest(const char *id, size_t id_len, const struct ring_addr *addr,
                         uint8_t status, uint8_t flags, uint64_t incarnation);

/* members_update_overrides() against a record's incarnation, status and flags. */
int members__overrides(uint64_t cur_incarnation, uint8_t cur_status, uint8_t cur_flags,
                       const struct member *upd);

/* member_digest() of the record at |idx| (a sync's have terms, swim_sync.c). */
uint64_t members__record_digest(const struct members *t, size_t idx);

/* Size of one stored record in the dense array (not counting a spilled blob). */
size_t members__record_bytes(void);

/* members_get() without its memset of the whole 1 KB struct: every field is written, but
 * the strings only up to their lengths (no NUL, and the bytes after them are left as they
 * were). For encoders, which read lengths: a sync of 10,000 members spent a third of its
 * time zeroing. */
void members__get_fields(const struct members *t, size_t idx, struct member *out);

/* A copy of |src| allocated from |mem| (NULL: the default allocator): the same records at
 * the same indexes, with the same capacity. Cheaper than inserting src's records one by one
 * (no hashing, no digests): ringsim starts 10,000 converged nodes from one table this way.
 * Returns 0 or RING_ENOMEM (nothing allocated). */
int members__clone(struct members **out, const struct members *src, const struct ring_mem *mem);

#endif
