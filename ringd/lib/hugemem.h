/*
 * hugemem: the ring_mem ringd builds its rings with. Blocks of 2 MiB and more (a ring's
 * table: 3.8 MB for 1,000 members) are 2 MiB-aligned and advised MADV_HUGEPAGE, so
 * the random reads of lookups hit a few huge-page TLB entries instead of missing among
 * thousands of 4 KiB pages (about 14% faster lookups at 1,000 members on the development
 * machine). Smaller blocks are plain malloc. Where the kernel ignores the advice, these are
 * ordinary aligned mappings.
 *
 * Huge blocks are mapped and unmapped here (never left in malloc's heap, where a full
 * build's 16 MB of temporaries at 1,000 members stayed resident), except the one freed last
 * while a live block has about its size, which is kept for the next such allocation: ringd
 * rebuilds its ring on every membership change, and the new ring asks for the block the old
 * one gave back. Fresh huge pages cost a fault and a 2 MiB zeroing each, which made one
 * rebuild at 1,000 members 5-20 ms; a reused block is already mapped. Not locked: ringd
 * allocates rings on its loop thread only.
 */
#ifndef RINGD_HUGEMEM_H
#define RINGD_HUGEMEM_H

#include "ring/mem.h"

/* The allocator; the pointer is to static storage, valid forever. */
const struct ring_mem *ringd_hugemem(void);

struct ringd_hugemem_stats {
    /* Huge blocks mapped (mmap and madvise). */
    uint64_t mapped;
    /* Huge allocations served by a block freed earlier. */
    uint64_t reused;
};

/* What the allocator has done since the process started. */
struct ringd_hugemem_stats ringd_hugemem_stats(void);

#endif
