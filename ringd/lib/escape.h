/*
 * escape: the one place where bytes that came from outside (gossip, the local API, an HTTP
 * query, flags) become output: JSON strings, text for a terminal, Prometheus label values.
 *
 * Ids, labels and groups are printable ASCII by the time they are stored (member_text_check()
 * in libring), but keys, error echoes and anything a future field adds are arbitrary bytes,
 * and an output must stay valid and harmless whatever it is given: valid JSON and valid
 * UTF-8, no terminal escape reaching a terminal. Every writer of JSON in ringd and ringctl
 * (the admin /v1/ answers, logs, ringctl --json) goes through escape_json(); every human table
 * through escape_text().
 */
#ifndef RINGD_ESCAPE_H
#define RINGD_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/*
 * Appends |len| bytes of |s| as a JSON string, quotes included. '"' and '\' are escaped,
 * control characters (U+0000..U+001F, U+007F..U+009F) become \u00XX, U+2028 and U+2029
 * become \u2028 and \u2029 (so the text is also a valid JavaScript string), and every byte
 * that is not part of a valid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF, no truncated sequence) becomes \ufffd, one per byte. Valid
 * multibyte characters pass through as they are. The result is valid JSON and valid UTF-8
 * for any input.
 */
void escape_json(struct sbuf *b, const char *s, size_t len);

/*
 * Appends |len| bytes of |s| as text for a person: printable ASCII and valid UTF-8 pass
 * through; every byte of a control character (C0, DEL, C1), of a bidirectional formatting
 * character (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and every byte outside
 * valid UTF-8 becomes "\xNN". No quotes are added. A '\' stays as it is: the point is that
 * nothing reaches a terminal raw, and text escaped once (an error message from ringd) must
 * not come out doubled when ringctl prints it.
 */
void escape_text(struct sbuf *b, const char *s, size_t len);

/* escape_text() into |dst| (|cap| > 0 bytes, NUL-terminated), cut at the last whole escape
 * that fits. Returns |dst|, for use as a printf argument. */
const char *escape_text_buf(char *dst, size_t cap, const char *s, size_t len);

/*
 * Appends |len| bytes of |s| as a Prometheus label value, without the quotes (the text
 * exposition format: '\' as "\\", '"' as "\"", newline as "\n"). The format has no escape
 * for other control characters and needs UTF-8, so those and invalid bytes become U+FFFD.
 */
void escape_prom_label(struct sbuf *b, const char *s, size_t len);

/*
 * The length of the valid UTF-8 sequence at the start of |s| (|len| > 0 bytes), 1..4, with
 * its code point in |*cp|; 0 when the first byte does not start a valid sequence (|*cp| is
 * then the byte). Exposed for tests.
 */
size_t escape_utf8_next(const char *s, size_t len, uint32_t *cp);

#endif
