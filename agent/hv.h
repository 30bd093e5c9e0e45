/* hv: the hypervisor behind one small interface.
 *
 * agentd talks to "a hypervisor"; a provider (struct hv_class, the
 * dpif_class idea of Open vSwitch) does the work.  hv_libvirt.c is the
 * one real provider, over libvirt: the embedded test:/// driver by default,
 * real QEMU through qemu:///system later.  Tests may plug in their own. */
#ifndef HV_H
#define HV_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;

struct hv_info {
    char type[32];      /* Driver type as libvirt names it: "TEST", "QEMU". */
    char version[32];   /* Hypervisor version, "major.minor.release". */
    char uri[256];      /* The canonical URI of the open connection. */
};

/* What libvirt measured of a finished live migration (its completed job
 * statistics). */
struct hv_mig_stats {
    uint64_t total_ms;          /* VIR_DOMAIN_JOB_TIME_ELAPSED. */
    uint64_t downtime_ms;       /* VIR_DOMAIN_JOB_DOWNTIME. */
    uint64_t data_bytes;        /* VIR_DOMAIN_JOB_MEMORY_PROCESSED. */
    uint32_t iterations;        /* VIR_DOMAIN_JOB_MEMORY_ITERATION. */
};

/* A provider.  Every function returns 0 or a negative errno with 'err'
 * filled; 'state' is the provider's own, made by open(). */
struct hv_class {
    const char *name;
    int (*open)(const char *uri, void **statep, struct fx_err *err);
    void (*close)(void *state);
    /* Optional (NULL: 'state' itself is passed).  hold() returns what
     * one call below takes as its 'state', put() gives it back: a
     * provider may so replace its connection, when it died, while a
     * call made in another thread still uses the old one. */
    void *(*hold)(void *state);
    void (*put)(void *state, void *held);
    /* Optional.  Asks the hypervisor whether it answers, opening its
     * connection again if it died: returns 1 if a new connection was
     * opened since the last probe, 0 if the one before answers, or the
     * error. */
    int (*probe)(void *state, struct fx_err *err);
    int (*info)(void *state, struct hv_info *info, struct fx_err *err);
    /* Domains, by name.  define() validates 'xml' against libvirt's
     * schema and creates or replaces the persistent definition. */
    int (*define)(void *state, const char *xml, struct fx_err *err);
    /* Stores the domain's XML (inactive: the persistent definition) in a
     * malloc'd '*xmlp' the caller frees. */
    int (*get_xml)(void *state, const char *name, int inactive,
                   char **xmlp, struct fx_err *err);
    int (*start)(void *state, const char *name, struct fx_err *err);
    int (*stop)(void *state, const char *name, struct fx_err *err);
    int (*undefine)(void *state, const char *name, struct fx_err *err);
    /* Stores 1 in '*activep' if the domain runs, else 0. */
    int (*is_active)(void *state, const char *name, int *activep,
                     struct fx_err *err);
    /* Optional.  Stores 1 in '*runningp' if the domain runs and is not
     * paused, else 0 (libvirt's state, kept without a job: it answers
     * while a migration runs). */
    int (*is_running)(void *state, const char *name, int *runningp,
                      struct fx_err *err);
    /* Takes a snapshot; stores how many the domain now has in '*np'. */
    int (*snapshot)(void *state, const char *name, unsigned *np,
                    struct fx_err *err);
    /* Stores the names of running domains in a malloc'd array of malloc'd
     * strings '*namesp' (free with hv_free_names()) of '*np' entries. */
    int (*list_active)(void *state, char ***namesp, size_t *np,
                       struct fx_err *err);
    /* The same for every defined domain, running or not. */
    int (*list_all)(void *state, char ***namesp, size_t *np,
                    struct fx_err *err);
    /* Pauses or resumes a running domain's vCPUs. */
    int (*suspend)(void *state, const char *name, struct fx_err *err);
    int (*resume)(void *state, const char *name, struct fx_err *err);
    /* Live-migrates running domain 'name' to the libvirtd at 'dst_uri',
     * QEMU's stream to 'mig_uri' ("tcp://127.0.0.1"), as the definition
     * of that name the destination has already (its own console file and
     * sockets: host-side things differ, the guest's ABI not), persistent
     * there and left PAUSED, for the caller to resume once the guest's
     * devices are restored.  With a downtime limit of 0, QEMU switches
     * over exactly when its first pass over memory ends (it never syncs
     * its dirty bitmap again), so the caller, watching job_progress, can
     * stop the guest just before, or stall the pass (migrate_speed) until
     * it is ready to.  'mib_per_s' paces it from the start (0: not).
     * Blocks until the end, so it runs in a thread of
     * its own (libvirt's connections are thread-safe); stores libvirt's
     * statistics in '*st'.  NULL: the provider cannot migrate. */
    int (*migrate)(void *state, const char *name, const char *dst_uri,
                   const char *mig_uri, unsigned mib_per_s,
                   struct hv_mig_stats *st, struct fx_err *err);
    /* Sets the pace of domain 'name''s migration under way, MiB/s. */
    int (*migrate_speed)(void *state, const char *name, unsigned mib_per_s,
                         struct fx_err *err);
    /* Cancels domain 'name''s migration under way, if any. */
    int (*abort_job)(void *state, const char *name, struct fx_err *err);
    /* The pre-copy pass QEMU is in for domain 'name''s migration under
     * way (1: the first, all of memory; 0 if none runs yet) and the bytes
     * of memory it has still to send (UINT64_MAX until QEMU says) of
     * '*totalp'. */
    int (*job_progress)(void *state, const char *name, unsigned *iterp,
                        uint64_t *remainingp, uint64_t *totalp,
                        struct fx_err *err);
};

/* The libvirt provider (hv_libvirt.c). */
extern const struct hv_class hv_libvirt_class;

struct hv;

/* Opens 'uri' with provider 'cls'.  Stores the handle in '*hvp'; the
 * caller frees it with hv_close(). */
int hv_open(const struct hv_class *cls, const char *uri, struct hv **hvp,
            struct fx_err *err);
void hv_close(struct hv *);
/* A second connection to what 'hv' is connected to, into '*hvp'. */
int hv_open_again(const struct hv *hv, struct hv **hvp, struct fx_err *err);
/* The provider's probe (struct hv_class): 1 if the connection was opened
 * again since the last call (the hypervisor's daemon restarted: what it
 * holds may have changed behind our back), 0 if it answers as before, or
 * the error if it does not.  0 for a provider without one. */
int hv_probe(struct hv *, struct fx_err *err);
int hv_get_info(struct hv *, struct hv_info *info, struct fx_err *err);

/* The domain operations of struct hv_class, on 'hv'. */
int hv_define(struct hv *, const char *xml, struct fx_err *err);
int hv_get_xml(struct hv *, const char *name, int inactive, char **xmlp,
               struct fx_err *err);
int hv_start(struct hv *, const char *name, struct fx_err *err);
int hv_stop(struct hv *, const char *name, struct fx_err *err);
int hv_undefine(struct hv *, const char *name, struct fx_err *err);
int hv_is_active(struct hv *, const char *name, int *activep,
                 struct fx_err *err);
/* -ENOTSUP if the provider cannot tell. */
int hv_is_running(struct hv *, const char *name, int *runningp,
                  struct fx_err *err);
int hv_snapshot(struct hv *, const char *name, unsigned *np,
                struct fx_err *err);
int hv_list_all(struct hv *, char ***namesp, size_t *np,
                struct fx_err *err);
int hv_list_active(struct hv *, char ***namesp, size_t *np,
                   struct fx_err *err);
void hv_free_names(char **names, size_t n);
int hv_suspend(struct hv *, const char *name, struct fx_err *err);
int hv_resume(struct hv *, const char *name, struct fx_err *err);
/* -ENOTSUP if the provider cannot migrate. */
int hv_migrate(struct hv *, const char *name, const char *dst_uri,
               const char *mig_uri, unsigned mib_per_s,
               struct hv_mig_stats *st, struct fx_err *err);
int hv_migrate_speed(struct hv *, const char *name, unsigned mib_per_s,
                     struct fx_err *err);
int hv_abort_job(struct hv *, const char *name, struct fx_err *err);
int hv_job_progress(struct hv *, const char *name, unsigned *iterp,
                    uint64_t *remainingp, uint64_t *totalp,
                    struct fx_err *err);

#endif
