/* metrics: observations, the summary and the checkers; see metrics.h. */
#include <math.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/members.h"

#include "groups.h"
#include "lease.h"
#include "scenario.h"
#include "sim.h"

/* Loss up to this much must cause no false positive (the accuracy target). */
#define FP_FREE_LOSS_MAX 0.10

int metrics_init(struct sim *w)
{
    struct sim_metrics *m = &w->m;
    m->converged_us = UINT64_MAX;
    m->knows_all_us = malloc(w->n * sizeof(*m->knows_all_us));
    m->samples = malloc(SIM_SAMPLES_MAX * sizeof(*m->samples));
    if (m->knows_all_us == NULL || m->samples == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        m->knows_all_us[i] = UINT64_MAX;
    }
    return 0;
}

void metrics_free(struct sim *w)
{
    struct sim_metrics *m = &w->m;
    for (uint32_t k = 0; k < m->watch_count; k++) {
        free(m->watch[k].faulty_at_us);
    }
    free(m->knows_all_us);
    free(m->samples);
}

void metrics_watch(struct sim *w, uint32_t i)
{
    struct sim_metrics *m = &w->m;
    if (m->watch_count == SIM_WATCH_MAX) {
        return;
    }
    struct sim_watch *wa = &m->watch[m->watch_count];
    wa->faulty_at_us = malloc(w->n * sizeof(*wa->faulty_at_us));
    if (wa->faulty_at_us == NULL) {
        return;
    }
    for (uint32_t j = 0; j < w->n; j++) {
        wa->faulty_at_us[j] = UINT64_MAX;
    }
    wa->node = i;
    wa->at_us = w->now_us;
    wa->first_probe_us = UINT64_MAX;
    wa->first_suspect_us = UINT64_MAX;
    wa->first_faulty_us = UINT64_MAX;
    m->watch_count++;
}

void metrics_disturb(struct sim *w)
{
    w->m.disturb_us = w->now_us;
    w->m.converged_us = UINT64_MAX;
}

static int healthy(const struct sim *w, uint32_t i)
{
    const struct sim_node *nd = &w->nodes[i];
    return nd->up && !nd->cut && !sim_node_paused(w, i) && w->now_us >= nd->disturbed_until_us;
}

static struct sim_watch *watch_of(struct sim *w, uint32_t subject)
{
    for (uint32_t k = 0; k < w->m.watch_count; k++) {
        if (w->m.watch[k].node == subject) {
            return &w->m.watch[k];
        }
    }
    return NULL;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

void metrics_on_event(struct sim *w, uint32_t i, const struct swim_event *ev)
{
    int subj = sim_addr_node(w, &ev->member.addr);
    if (subj < 0 || (uint32_t)subj == i) {
        return;
    }
    int st = ev->member.status;
    int dead = ev->type == SWIM_EVENT_MEMBER_LEFT || st == MEMBER_FAULTY || st == MEMBER_LEFT;
    if (healthy(w, (uint32_t)subj)) {
        w->m.false_suspicions += st == MEMBER_SUSPECT;
        w->m.false_positives += st == MEMBER_FAULTY;
    }
    struct sim_watch *wa = watch_of(w, (uint32_t)subj);
    if (wa == NULL) {
        return;
    }
    if (st == MEMBER_SUSPECT || dead) {
        wa->first_suspect_us = min_u64(wa->first_suspect_us, w->now_us);
    }
    if (dead) {
        wa->faulty_at_us[i] = min_u64(wa->faulty_at_us[i], w->now_us);
        wa->first_faulty_us = min_u64(wa->first_faulty_us, w->now_us);
    }
}

void metrics_on_dgram(struct sim *w, uint32_t from, int to, const uint8_t *buf, size_t len)
{
    (void)from;
    if (to < 0 || w->nodes[to].up || codec_peek_type(buf, len) != CODEC_PING) {
        return; /* gossip rides on acks (seq 0); only a ping is a probe (or a ping-req's) */
    }
    struct sim_watch *wa = watch_of(w, (uint32_t)to);
    if (wa != NULL) {
        wa->first_probe_us = min_u64(wa->first_probe_us, w->now_us);
    }
}

void metrics_after_drain(struct sim *w, uint32_t i)
{
    if (w->opts.scenario != SIM_JOIN || w->m.knows_all_us[i] != UINT64_MAX) {
        return;
    }
    if (members_count_status(swim_members(w->nodes[i].s), MEMBER_ALIVE) >= w->n) {
        w->m.knows_all_us[i] = w->now_us;
    }
}

/* The running nodes holding the most common (checksum, ring checksum) pair: Boyer-Moore
 * majority vote, then a count (a pair held by at most half is reported as its count). */
static uint32_t agreement(const struct sim *w)
{
    if (simgroups_on(w)) {
        return simgroups_agreement(w);
    }
    uint64_t cand[2] = { 0, 0 };
    uint32_t votes = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].up) {
            continue;
        }
        uint64_t c[2] = { swim_checksum(w->nodes[i].s), swim_ring_checksum(w->nodes[i].s) };
        if (votes == 0) {
            cand[0] = c[0];
            cand[1] = c[1];
        }
        votes += (c[0] == cand[0] && c[1] == cand[1]) ? 1 : (uint32_t)-1;
    }
    uint32_t agree = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        const struct swim *s = w->nodes[i].s;
        agree += w->nodes[i].up && swim_checksum(s) == cand[0] && swim_ring_checksum(s) == cand[1];
    }
    return agree;
}

static int all_see_all_alive(const struct sim *w)
{
    if (simgroups_on(w)) {
        return simgroups_converged(w);
    }
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].up) {
            continue;
        }
        const struct members *t = swim_members(w->nodes[i].s);
        if (members_count_status(t, MEMBER_ALIVE) != w->up || members_ring_count(t) != w->up) {
            return 0;
        }
    }
    return 1;
}

void metrics_sample(struct sim *w)
{
    struct sim_metrics *m = &w->m;
    m->node_seconds += (double)w->up * SIM_SAMPLE_US / 1e6;
    uint32_t agree = agreement(w);
    int converged = agree == w->up && all_see_all_alive(w);
    if (m->sample_count < SIM_SAMPLES_MAX) {
        struct sim_sample *s = &m->samples[m->sample_count++];
        s->at_us = w->now_us;
        s->up = w->up;
        s->agree = agree;
    }
    m->converged_now = converged;
    simgroups_sample(w);
    if (w->now_us < m->disturb_us) {
        return;
    }
    if (!converged) {
        m->converged_us = UINT64_MAX;
    } else if (m->converged_us == UINT64_MAX) {
        m->converged_us = w->now_us;
    }
}

/* ---- derived figures ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t metrics_detection_times(const struct sim *w, double **out)
{
    const struct sim_metrics *m = &w->m;
    double *v = malloc(((size_t)m->watch_count * w->n + 1) * sizeof(*v));
    size_t k = 0;
    for (uint32_t j = 0; v != NULL && j < m->watch_count; j++) {
        const struct sim_watch *wa = &m->watch[j];
        for (uint32_t i = 0; i < w->n; i++) {
            if (wa->faulty_at_us[i] != UINT64_MAX) {
                v[k++] = (double)(wa->faulty_at_us[i] - wa->at_us) / 1e6;
            }
        }
    }
    if (v != NULL) {
        qsort(v, k, sizeof(*v), cmp_double);
    }
    *out = v;
    return k;
}

size_t metrics_join_times(const struct sim *w, double **out)
{
    const struct sim_metrics *m = &w->m;
    double *v = malloc(((size_t)w->n + 1) * sizeof(*v));
    size_t k = 0;
    for (uint32_t i = 0; v != NULL && i < w->n; i++) {
        if (m->knows_all_us[i] != UINT64_MAX) {
            uint64_t t = m->knows_all_us[i];
            v[k++] = t > m->join_start_us ? (double)(t - m->join_start_us) / 1e6 : 0.0;
        }
    }
    if (v != NULL) {
        qsort(v, k, sizeof(*v), cmp_double);
    }
    *out = v;
    return k;
}

/* Seconds until |fraction| of all n nodes knew every node, or -1. */
static double join_quantile(const struct sim *w, double fraction)
{
    double *v;
    size_t k = metrics_join_times(w, &v);
    size_t need = (size_t)ceil(fraction * w->n);
    double t = need >= 1 && k >= need ? v[need - 1] : -1;
    free(v);
    return t;
}

/* The protocol period every node runs with (libring's default unless overridden). */
static uint64_t probe_interval_us(const struct sim *w)
{
    struct swim_config c = { .probe_interval_ms = w->opts.probe_interval_ms };
    swim_config_defaults(&c);
    return (uint64_t)c.probe_interval_ms * 1000;
}

/* Means over the watched nodes that got there (-1 when none did). */
struct detection {
    double first_probe_s; /* kill -> the first ping anyone sent it */
    /* SWIM's measure: protocol periods, counted from the kill, up to and including the one
     * in which some member first picked it as its probe target, ceil(first_probe_s / T);
     * e/(e-1) = 1.58 when each of N members picks it with probability 1/(N-1) per period. */
    double first_probe_periods;
    double first_suspect_s;
    double suspect_after_probe_s; /* that first probe's period running out, mostly */
    double first_faulty_s;        /* kill -> the first faulty verdict anywhere */
    double all_faulty_s;          /* worst over watched nodes, -1 if some live node never did */
    double mean_faulty_s;         /* mean over (watched, live observer) */
};

struct mean {
    double sum;
    uint32_t n;
};

static void mean_add(struct mean *a, uint64_t from_us, uint64_t to_us)
{
    if (from_us != UINT64_MAX && to_us != UINT64_MAX && to_us >= from_us) {
        a->sum += (double)(to_us - from_us) / 1e6;
        a->n++;
    }
}

static double mean_of(const struct mean *a)
{
    return a->n > 0 ? a->sum / a->n : -1;
}

static struct detection detection(const struct sim *w)
{
    const struct sim_metrics *m = &w->m;
    struct detection d = { -1, -1, -1, -1, -1, -1, -1 };
    struct mean probe = { 0, 0 }, periods = { 0, 0 }, first = { 0, 0 }, after = { 0, 0 },
                faulty1 = { 0, 0 };
    uint64_t t_us = probe_interval_us(w);
    double faulty_sum = 0, worst = 0;
    uint32_t faulty_n = 0;
    int all = m->watch_count > 0;
    for (uint32_t j = 0; j < m->watch_count; j++) {
        const struct sim_watch *wa = &m->watch[j];
        mean_add(&probe, wa->at_us, wa->first_probe_us);
        if (wa->first_probe_us != UINT64_MAX) {
            uint64_t k = (wa->first_probe_us - wa->at_us + t_us - 1) / t_us;
            periods.sum += (double)(k > 0 ? k : 1);
            periods.n++;
        }
        mean_add(&first, wa->at_us, wa->first_suspect_us);
        mean_add(&after, wa->first_probe_us, wa->first_suspect_us);
        mean_add(&faulty1, wa->at_us, wa->first_faulty_us);
        for (uint32_t i = 0; i < w->n; i++) {
            if (!w->nodes[i].up || !simgroups_same(w, i, wa->node)) {
                continue; /* with groups, only its own group watches a node */
            }
            if (wa->faulty_at_us[i] == UINT64_MAX) {
                all = 0;
                continue;
            }
            double t = (double)(wa->faulty_at_us[i] - wa->at_us) / 1e6;
            faulty_sum += t;
            faulty_n++;
            worst = t > worst ? t : worst;
        }
    }
    d.first_probe_s = mean_of(&probe);
    d.first_probe_periods = mean_of(&periods);
    d.first_suspect_s = mean_of(&first);
    d.suspect_after_probe_s = mean_of(&after);
    d.first_faulty_s = mean_of(&faulty1);
    d.all_faulty_s = all ? worst : -1;
    d.mean_faulty_s = faulty_n ? faulty_sum / faulty_n : -1;
    return d;
}

static size_t table_bytes_peak(const struct sim *w)
{
    size_t peak = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        peak = w->nodes[i].mem.peak > peak ? w->nodes[i].mem.peak : peak;
    }
    return peak;
}

static uint64_t full_syncs(const struct sim *w)
{
    return w->net.syncs;
}

static void num(FILE *f, int json, const char *key, double v, int last)
{
    if (json) {
        if (v < 0) {
            fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
        } else {
            fprintf(f, "\"%s\":%.6g%s", key, v, last ? "" : ",");
        }
    } else if (v < 0) {
        fprintf(f, "  %-28s -\n", key);
    } else {
        fprintf(f, "  %-28s %.6g\n", key, v);
    }
}

void metrics_report(const struct sim *w, int json, FILE *f)
{
    const struct sim_metrics *m = &w->m;
    const struct sim_net *net = &w->net;
    struct detection d = detection(w);
    double ns = m->node_seconds > 0 ? m->node_seconds : 1;
    double conv = m->converged_us != UINT64_MAX && m->converged_now
                      ? (double)(m->converged_us - m->disturb_us) / 1e6
                      : -1;
    double interval_s = (double)probe_interval_us(w) / 1e6;
    if (json) {
        fprintf(f, "{\"scenario\":\"%s\",\"nodes\":%u,\"seed\":%llu,",
                scenario_name(w->opts.scenario), w->n, (unsigned long long)w->opts.seed);
    } else {
        fprintf(
            f,
            "ringsim %s: %u nodes, seed %llu, %.0f s virtual, loss %.3g, latency %.3g+-%.3g ms\n",
            scenario_name(w->opts.scenario), w->n, (unsigned long long)w->opts.seed,
            (double)w->end_us / 1e6, w->opts.loss, w->opts.latency_ms, w->opts.jitter_ms);
    }
    num(f, json, "duration_s", (double)w->end_us / 1e6, 0);
    num(f, json, "loss", w->opts.loss, 0);
    num(f, json, "convergence_s", conv, 0);
    num(f, json, "first_probe_s", d.first_probe_s, 0);
    num(f, json, "first_probe_periods", d.first_probe_periods, 0);
    num(f, json, "first_suspect_s", d.first_suspect_s, 0);
    num(f, json, "first_suspect_periods",
        d.first_suspect_s < 0 ? -1 : d.first_suspect_s / interval_s, 0);
    num(f, json, "suspect_after_probe_s", d.suspect_after_probe_s, 0);
    num(f, json, "first_faulty_s", d.first_faulty_s, 0);
    num(f, json, "all_faulty_s", d.all_faulty_s, 0);
    num(f, json, "mean_faulty_s", d.mean_faulty_s, 0);
    if (w->opts.scenario == SIM_JOIN) {
        num(f, json, "join_50pct_s", join_quantile(w, 0.5), 0);
        num(f, json, "join_99pct_s", join_quantile(w, 0.99), 0);
        num(f, json, "join_99_99pct_s", join_quantile(w, 0.9999), 0);
        num(f, json, "join_all_s", join_quantile(w, 1.0), 0);
    }
    num(f, json, "false_positives", (double)m->false_positives, 0);
    num(f, json, "false_suspicions", (double)m->false_suspicions, 0);
    num(f, json, "msgs_per_node_per_s", (double)net->dgrams / ns, 0);
    num(f, json, "bytes_per_node_per_s", (double)(net->dgram_bytes + net->stream_bytes) / ns, 0);
    num(f, json, "stream_bytes_per_node_per_s", (double)net->stream_bytes / ns, 0);
    num(f, json, "dgrams_lost", (double)net->dgrams_lost, 0);
    num(f, json, "stream_fails", (double)net->stream_fails, 0);
    num(f, json, "full_syncs", (double)full_syncs(w), 0);
    num(f, json, "member_table_bytes_per_node", (double)table_bytes_peak(w), 0);
    simgroups_report(w, json, f);
    simlease_report(w, json, f);
    num(f, json, "events", (double)w->events, 0);
    num(f, json, "events_per_s", w->wall_s > 0 ? (double)w->events / w->wall_s : -1, 0);
    num(f, json, "setup_wall_s", w->setup_wall_s, 0);
    /* The whole process so far (setup, run, this report): what "one core" pays, however
     * busy the machine's other cores and its scheduler are. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    num(f, json, "cpu_user_s", (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, 0);
    num(f, json, "cpu_sys_s", (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, 0);
    num(f, json, "max_rss_mb", (double)ru.ru_maxrss / 1024.0, 0);
    num(f, json, "wall_s", w->wall_s, !json);
    if (json) {
        fprintf(f, "\"trace\":\"%016llx\"}\n", (unsigned long long)w->trace);
    } else {
        fprintf(f, "  %-28s %016llx\n", "trace", (unsigned long long)w->trace);
    }
}

int metrics_check(const struct sim *w, char *why, size_t cap)
{
    const struct sim_metrics *m = &w->m;
    if (simlease_check(w, why, cap) != 0) {
        return -1;
    }
    if (!m->converged_now) {
        snprintf(why, cap, "live nodes did not converge on membership and ring checksums");
        return -1;
    }
    if (m->watch_count > 0 && detection(w).all_faulty_s < 0) {
        snprintf(why, cap, "a killed node is not marked faulty by every live node");
        return -1;
    }
    if (w->opts.loss <= FP_FREE_LOSS_MAX && m->false_positives > 0) {
        snprintf(why, cap, "%llu false positives (healthy nodes declared faulty)",
                 (unsigned long long)m->false_positives);
        return -1;
    }
    return 0;
}
