/*
 * list: a circular, doubly linked intrusive list, as libuv's queue.h: an element embeds a
 * struct list, a list is a struct list head (a sentinel), and list_entry() gets from the
 * link back to its element. Unlinking is O(1) and needs no head; an unlinked element points
 * at itself, so removing it twice is harmless.
 *
 *   struct conn { struct list link; ... };
 *   struct list conns;                       list_init(&conns);
 *   list_push(&conns, &c->link);             list_remove(&c->link);
 *   for (struct list *it = conns.next, *nx; it != &conns; it = nx) {
 *       nx = it->next;                       (the element may be removed in the body)
 *       struct conn *c = list_entry(it, struct conn, link);
 *   }
 */
#ifndef RINGD_LIST_H
#define RINGD_LIST_H

#include <stddef.h>

struct list {
    struct list *prev, *next;
};

static inline void list_init(struct list *h)
{
    h->prev = h->next = h;
}

static inline int list_empty(const struct list *h)
{
    return h->next == h;
}

/* Inserts |n| at the front of |h|. */
static inline void list_push(struct list *h, struct list *n)
{
    n->next = h->next;
    n->prev = h;
    h->next->prev = n;
    h->next = n;
}

/* Unlinks |n| from whatever list holds it (nothing when it is unlinked already). */
static inline void list_remove(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* The element of type |type| whose member |field| is the link |ptr|. */
#define list_entry(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

#endif
