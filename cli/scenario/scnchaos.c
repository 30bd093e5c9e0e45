/* scnchaos: a storm drawn from splitmix64 (the seed is the whole state,
 * so that a seed is a storm), each kind of block from a table by weight;
 * shrinking by removing chunks of halving size while the failure stays. */
#include "scnchaos.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"

struct rng {
    uint64_t s;
};

/* splitmix64: small, and the same everywhere. */
static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned
rng_below(struct rng *r, unsigned n)
{
    return (unsigned) (rng_next(r) % n);
}

struct gen {
    const struct scnchaos_params *p;
    struct rng rng;
    struct scnchaos_storm *s;
    int failed;
};

/* Appends a block made of the lines 'fmt' formats ('\n' between). */
static void
gen_block(struct gen *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
gen_block(struct gen *g, const char *fmt, ...)
{
    char **blocks = realloc(g->s->blocks,
                            (g->s->n_blocks + 1) * sizeof *blocks);
    va_list ap;
    char *text = NULL;

    if (!blocks) {
        g->failed = 1;
        return;
    }
    g->s->blocks = blocks;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0) {
        text = NULL;
    }
    va_end(ap);
    if (!text) {
        g->failed = 1;
        return;
    }
    blocks[g->s->n_blocks++] = text;
}

static unsigned
gen_vm(struct gen *g)
{
    return 1 + rng_below(&g->rng, g->p->vms);
}

static unsigned
gen_host(struct gen *g)
{
    return 1 + rng_below(&g->rng, g->p->hosts);
}

static void
gen_migrate(struct gen *g)
{
    unsigned vm = gen_vm(g), host = gen_host(g);

    gen_block(g, "try migrate v%u --to h%u --max-bandwidth 0", vm, host);
}

static void
gen_stop(struct gen *g)
{
    gen_block(g, "try vm stop v%u", gen_vm(g));
}

static void
gen_start(struct gen *g)
{
    gen_block(g, "try vm start v%u", gen_vm(g));
}

static void
gen_delete(struct gen *g)
{
    gen_block(g, "try vm delete v%u", gen_vm(g));
}

static void
gen_create(struct gen *g)
{
    unsigned vm = gen_vm(g), host = gen_host(g);

    gen_block(g, "try vm create v%u --host h%u --memory 16 --nic hp", vm,
              host);
}

/* A daemon armed to die at a phase it may visit, a migration, the
 * daemon started again (unarmed, whether it died or not). */
static void
gen_crash_at(struct gen *g)
{
    static const char *const phases[] = {
        "begin", "prepare", "perform", "switchover", "finish", "confirm",
    };
    unsigned d = rng_below(&g->rng, g->p->hosts + 1);
    unsigned ph = d ? 1 + rng_below(&g->rng, 5) : rng_below(&g->rng, 6);
    unsigned vm = gen_vm(g), host = gen_host(g);
    char name[16];

    snprintf(name, sizeof name, d ? "h%u" : "fabricd", d);
    /* The migration must not wait for its end: an agent dead at a phase
     * leaves it unresolved until the daemon is back, which is the next
     * step.  Its end, or fabricd's death, is waited for, not required
     * (the daemon may not be one this migration visits). */
    if (d) {
        gen_block(g, "fault crash %s at %s\n"
                  "try migrate v%u --to h%u --max-bandwidth 0 --no-wait\n"
                  "try wait migration[vm=v%u].state in completed|failed|"
                  "cancelled|resolved|unresolved within 10s\n"
                  "fault restart %s", name, phases[ph], vm, host, vm, name);
    } else {
        gen_block(g, "fault crash %s at %s\n"
                  "try migrate v%u --to h%u --max-bandwidth 0 --no-wait\n"
                  "try wait dead fabricd within 5s\n"
                  "fault restart %s", name, phases[ph], vm, host, name);
    }
}

static void
gen_crash(struct gen *g)
{
    unsigned h = gen_host(g);

    gen_block(g, "fault crash h%u\nfault restart h%u", h, h);
}

static void
gen_freeze(struct gen *g)
{
    unsigned h = gen_host(g);

    gen_block(g, "fault freeze h%u\n"
              "wait host[h%u].state == down within 10s\n"
              "fault thaw h%u\n"
              "wait host[h%u].state == up within 10s", h, h, h, h);
}

/* The kinds of block, by weight (of 100). */
static const struct {
    unsigned weight;
    void (*fn)(struct gen *);
} gen_kinds[] = {
    { 34, gen_migrate },
    { 10, gen_stop },
    { 12, gen_start },
    { 7, gen_delete },
    { 9, gen_create },
    { 16, gen_crash_at },
    { 7, gen_crash },
    { 5, gen_freeze },
};

static void
gen_storm(struct gen *g)
{
    for (unsigned i = 0; i < g->p->steps && !g->failed; i++) {
        unsigned r = rng_below(&g->rng, 100), k = 0;

        while (k + 1 < sizeof gen_kinds / sizeof *gen_kinds
               && r >= gen_kinds[k].weight) {
            r -= gen_kinds[k++].weight;
        }
        gen_kinds[k].fn(g);
    }
}

int
scnchaos_generate(const struct scnchaos_params *p, struct scnchaos_storm *s,
                  struct fx_err *err)
{
    struct gen g = { .p = p, .rng = { p->seed }, .s = s };

    memset(s, 0, sizeof *s);
    if (asprintf(&s->header, "# fexctl scenario chaos --seed %llu --hosts %u"
                 " --vms %u --steps %u%s%s\nname chaos-%llu\n"
                 "lab hosts=%u vnics=%u heartbeat-timeout=1000\n",
                 (unsigned long long) p->seed, p->hosts, p->vms, p->steps,
                 p->arm ? " --arm " : "", p->arm ? p->arm : "",
                 (unsigned long long) p->seed, p->hosts,
                 2 * p->vms + 2) < 0) {
        s->header = NULL;
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    if (p->arm) {
        const char *colon = strchr(p->arm, ':');

        gen_block(&g, "fault arm %.*s %s", (int) (colon - p->arm), p->arm,
                  colon + 1);
    }
    gen_block(&g, "try profile create hp --vlan 10 --high-performance");
    for (unsigned v = 1; v <= p->vms; v++) {
        gen_block(&g, "try vm create v%u --host h%u --memory 16 --nic hp", v,
                  1 + (v - 1) % p->hosts);
        gen_block(&g, "try vm start v%u", v);
    }
    gen_storm(&g);
    if (g.failed) {
        scnchaos_storm_free(s);
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

char *
scnchaos_text(const struct scnchaos_storm *s, const unsigned char *keep)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    if (!f) {
        return NULL;
    }
    fputs(s->header, f);
    for (size_t i = 0; i < s->n_blocks; i++) {
        if (!keep || keep[i]) {
            fprintf(f, "%s\n", s->blocks[i]);
        }
    }
    fclose(f);
    return buf;
}

void
scnchaos_storm_free(struct scnchaos_storm *s)
{
    for (size_t i = 0; i < s->n_blocks; i++) {
        free(s->blocks[i]);
    }
    free(s->blocks);
    free(s->header);
    memset(s, 0, sizeof *s);
}

/* Tries without the kept blocks of [from, to): keeps them out if the
 * text still fails.  Returns 1 if it ran (there was one to remove). */
static int
shrink_try(const struct scnchaos_storm *s, unsigned char *keep, size_t from,
           size_t to, scnchaos_fails_fn fails, void *arg, int *removed)
{
    unsigned char *was = malloc(s->n_blocks);
    int any = 0;
    char *text;

    if (!was) {
        return 0;
    }
    memcpy(was, keep, s->n_blocks);
    for (size_t i = from; i < to && i < s->n_blocks; i++) {
        any |= keep[i];
        keep[i] = 0;
    }
    text = any ? scnchaos_text(s, keep) : NULL;
    if (text && fails(arg, text)) {
        *removed = 1;
    } else {
        memcpy(keep, was, s->n_blocks);
    }
    free(text);
    free(was);
    return any;
}

unsigned
scnchaos_shrink(const struct scnchaos_storm *s, unsigned char *keep,
                scnchaos_fails_fn fails, void *arg)
{
    unsigned runs = 0;
    size_t chunk = s->n_blocks / 2 ? s->n_blocks / 2 : 1;
    int removed = 1;

    /* Halving chunks, then single blocks until none can go. */
    while (chunk > 1 || removed) {
        removed = 0;
        for (size_t i = 0; i < s->n_blocks; i += chunk) {
            runs += (unsigned) shrink_try(s, keep, i, i + chunk, fails, arg,
                                          &removed);
        }
        if (chunk > 1) {
            chunk /= 2;
            removed = 1;        /* Go on down to single blocks. */
        }
    }
    return runs;
}
