/*
 * err: ringd's one error family.
 *
 * Every ringd function that can fail returns 0 (or a non-negative count or length) on
 * success and a negative errno value on failure: -EINVAL, -ENOENT, ... libuv's UV_E* codes
 * are exactly these on the systems ringd runs on (UV_EINVAL == -EINVAL), so a uv call's
 * result passes on unchanged, and folders without an event loop (lib/, ctl/) spell them
 * -EINVAL. Never -1, never a libring code.
 *
 * libring speaks its own family (RING_E*, ring/error.h). Where ringd passes a libring
 * failure on, it converts it with ringd_err_from_ring(); where it logs one, it logs
 * ring_strerror() of the original, which says more ("authentication failed").
 *
 * The local API's error answers carry RING_E* names ("EINVAL", "EEMPTY", docs/api.md): that
 * is the API's wire vocabulary, so api/ converts back with ringd_err_to_ring() at the one
 * place it packs an error, and the C client (ctl/) reads those names off the wire.
 */
#ifndef RINGD_ERR_H
#define RINGD_ERR_H

/* The errno value (negated) for libring code |ring_err|; 0 for 0. A code without an errno of
 * the same meaning gets the nearest one (the table in err.c); an unknown one -EINVAL. */
int ringd_err_from_ring(int ring_err);

/* The RING_E* code the local API answers with for ringd error |err| (a negative errno): the
 * inverse of ringd_err_from_ring(). An errno with no RING_E* counterpart (an I/O failure)
 * answers RING_EAGAIN: the call may work later. 0 for 0. */
int ringd_err_to_ring(int err);

/* A message for ringd error |err|: libring's words for a code that has a RING_E* counterpart
 * ("out of memory", as the API has always said), strerror()'s for any other. Static. */
const char *ringd_strerror(int err);

#endif
