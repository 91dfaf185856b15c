/*
 * ctl: what ringctl's files share. ringctl.c parses the command line (global options, then a
 * command and its own options, `--` ending them) and dispatches; ctl_cmds.c runs the
 * commands; ctl_out.c writes what they print: escaped text for a person, JSON for a script.
 */
#ifndef RINGD_CTL_H
#define RINGD_CTL_H

#include <stdint.h>

#include "client.h"
#include "sbuf.h"

#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_SPLIT 3

/* Values one repeatable option (--status, --label) may take. */
#define CTL_VALUES_MAX 16
/* Positional arguments of one command (join's seeds). */
#define CTL_ARGS_MAX 64

struct ctl {
    const char *socket;
    const char *keyfile;             /* --keyfile, else $RINGD_KEYFILE; NULL: none */
    int keyfile_explicit;            /* given as --keyfile: unreadable is an error */
    const struct seal_keyring *keys; /* read from it, for peers' gossip ports; NULL: none */
    int json;
    int timeout_ms;    /* 1 ms .. 24 h, as ringd's durations */
    int timeout_given; /* --timeout given: drain and wait-ready have their own default */
    struct ringc *c;
};

/* A command's arguments with its options taken out. */
struct ctl_args {
    const char *pos[CTL_ARGS_MAX];
    int pos_count;
    const char *group; /* members --group G */
    long n;            /* lookup -n N; 0 when not given */
    const char *status[CTL_VALUES_MAX];
    int status_count;
    const char *label[CTL_VALUES_MAX];
    int label_count;
    const char *out_path; /* keygen -o FILE; NULL: stdout */
    int force;            /* keygen --force */
    int cancel;           /* drain --cancel */
    int restart;          /* drain --restart */
    int serving;          /* wait-ready --serving */
};

/* ---- ctl_out.c -------------------------------------------------------------------------- */

/* |len| bytes of |s| as a person may see them (escape_text()), in one of a few static
 * buffers, so a printf may hold several. */
const char *ctl_shown_n(const char *s, size_t len);
const char *ctl_shown(const char *s);

/* A msgpack object as JSON. A positive integer under a map key that ends in "checksum" is
 * written as the 16 hex digits the text output shows, in a string: JSON numbers above 2^53
 * lose digits in JavaScript and jq. */
void ctl_to_json(struct sbuf *b, const msgpack_object *o);
/* The pairs of map |o|, each preceded by a comma, without braces. */
void ctl_to_json_pairs(struct sbuf *b, const msgpack_object *o);
/* |o| as one JSON line on stdout. */
void ctl_print_json(const msgpack_object *o);
/* A checksum as JSON: "%016llx" in quotes. */
void ctl_json_checksum(struct sbuf *b, const char *key, uint64_t v);
/* The wall clock as RFC 3339 UTC with milliseconds ("2026-12-02T17:12:04.700Z"), as ringd's
 * logs write it. */
void ctl_timestamp(char *buf, size_t cap);

/* Prints why call |what| failed (|rv| from ringc_call()); returns CTL_EXIT_FAIL. */
int ctl_report(struct ctl *ctl, const char *what, int rv);

/* ---- ctl_cmds.c ------------------------------------------------------------------------- */

int ctl_members(struct ctl *ctl, const struct ctl_args *a);
int ctl_lookup(struct ctl *ctl, const struct ctl_args *a);
int ctl_ring(struct ctl *ctl, const struct ctl_args *a);
int ctl_watch(struct ctl *ctl, const struct ctl_args *a);
int ctl_checksums(struct ctl *ctl, const struct ctl_args *a);
int ctl_join(struct ctl *ctl, const struct ctl_args *a);
int ctl_release(struct ctl *ctl, const struct ctl_args *a);
int ctl_leave(struct ctl *ctl, const struct ctl_args *a);
/* Marks a failed member left (force_leave()). */
int ctl_force_leave(struct ctl *ctl, const struct ctl_args *a);
int ctl_stats(struct ctl *ctl, const struct ctl_args *a);
int ctl_keys(struct ctl *ctl, const struct ctl_args *a);
/* ctl_keygen.c: a fresh cluster key, to stdout or a new 0600 file. */
int ctl_keygen(struct ctl *ctl, const struct ctl_args *a);
/* Loads |path| (may be NULL: nothing) as the keys of peer queries. An unreadable file is an
 * error (CTL_EXIT_FAIL) when |explicit| (--keyfile), else a warning. Returns 0 or that. */
int ctl_load_peer_keys(const char *path, int explicit, struct seal_keyring *kr);
int ctl_groups(struct ctl *ctl, const struct ctl_args *a);
int ctl_shards(struct ctl *ctl, const struct ctl_args *a);
/* ctl_life.c */
int ctl_drain(struct ctl *ctl, const struct ctl_args *a);
int ctl_wait_ready(struct ctl *ctl, const struct ctl_args *a);
/* Prints ringctl's version, then asks ringd for its own (stats()). */
int ctl_version(struct ctl *ctl, const struct ctl_args *a);

#endif
