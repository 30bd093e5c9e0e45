/* scn: a parsed scenario, the model the parser fills and the runner reads:
 * the lab it describes and its steps, each with the line it came from.
 *
 * Also the tables of what a scenario may name: the listings a check reads
 * a field of (host, vm, vif, profile, migration, flow), the daemons'
 * migration phases a fault may crash at, and the fexctl command groups a
 * step may run.  The parser validates against them and the runner uses
 * them, so that the two never disagree. */
#ifndef SCN_H
#define SCN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define SCN_SEL_MAX 4
#define SCN_ORDER_MAX 8
#define SCN_ARGS_MAX 40

/* A listing: "vm" is `fexctl --json vm list`, whose rows are the array
 * "vms"; a bare name in a selector, vm[m], matches the key "name". */
struct scn_listing {
    const char *name;            /* As a scenario writes it. */
    const char *argv[3];         /* The fexctl command that lists. */
    const char *rows;            /* The JSON member holding the rows, or
                                  * NULL when the document is the array. */
    const char *key;             /* What a bare selector value matches. */
};

/* The listing called 'name', or NULL. */
const struct scn_listing *scn_listing_find(const char *name);
/* The names of every listing, "host, vm, ..." (static). */
const char *scn_listing_names(void);
/* Whether 'phase' is a migration phase a daemon can crash at. */
int scn_phase_known(const char *phase);
/* Whether 'group' is a fexctl command group a step may run. */
int scn_group_known(const char *group);

/* One "KEY=VALUE" of a selector. */
struct scn_sel {
    char key[32];
    char val[64];
};

/* LISTING[SEL,...].FIELD, or an event pattern TYPE[SEL,...] (no field). */
struct scn_ref {
    char listing[32];            /* Or the event type, "vm-started". */
    struct scn_sel sel[SCN_SEL_MAX];
    size_t n_sel;
    char field[48];              /* "" for a count or an event. */
};

enum scn_op { SCN_EQ, SCN_NE, SCN_LT, SCN_LE, SCN_GT, SCN_GE, SCN_HAS,
              SCN_IN };
/* "==", "!=", ... "~", "in". */
const char *scn_op_name(enum scn_op op);

enum scn_check_kind {
    SCN_CHECK_FIELD,             /* ref OP value */
    SCN_CHECK_COUNT,             /* count REF OP value */
    SCN_CHECK_ALIVE,             /* alive DAEMON */
    SCN_CHECK_DEAD,              /* dead DAEMON */
    SCN_CHECK_ORDER,             /* order EV EV ... */
};

struct scn_check {
    enum scn_check_kind kind;
    struct scn_ref ref;
    enum scn_op op;
    char value[128];             /* As written; "a|b|c" for 'in'. */
    char daemon[40];             /* alive/dead: "fabricd", "h2". */
    struct scn_ref order[SCN_ORDER_MAX];
    size_t n_order;
};

enum scn_fault_kind {
    SCN_FAULT_CRASH,             /* SIGKILL now. */
    SCN_FAULT_CRASH_AT,          /* Restarted armed: dies at a phase. */
    SCN_FAULT_FAIL_RESUME,       /* Restarted armed: next incoming
                                  * migration's domain does not start. */
    SCN_FAULT_KILL,              /* SIGTERM: a clean stop. */
    SCN_FAULT_RESTART,           /* Started again by its lab.json line. */
    SCN_FAULT_FREEZE,            /* SIGSTOP: misses its heartbeats. */
    SCN_FAULT_THAW,              /* SIGCONT. */
    SCN_FAULT_LINK_DOWN,         /* netns labs: lab link HOST down. */
    SCN_FAULT_LINK_UP,
    SCN_FAULT_LINK_SHAPE,        /* lab link HOST --delay --loss. */
    SCN_FAULT_ARM,               /* Restarted with --fault SPEC. */
};

struct scn_fault {
    enum scn_fault_kind kind;
    char daemon[40];
    char phase[16];              /* crash at PHASE. */
    unsigned nth;                /* PHASE:N, 1 by default. */
    char delay[16];              /* Milliseconds, as written. */
    char loss[16];               /* Percent, as written. */
    char spec[48];               /* arm: the daemon's --fault SPEC. */
};

enum scn_step_kind { SCN_STEP_CMD, SCN_STEP_EXPECT, SCN_STEP_EXPECT_FAIL,
                     SCN_STEP_EXPECT_OK, SCN_STEP_TRY, SCN_STEP_WAIT,
                     SCN_STEP_FAULT };

struct scn_step {
    unsigned line;
    enum scn_step_kind kind;
    char text[512];              /* The line, variables expanded, comment
                                  * and extra blanks left out. */
    char *argv[SCN_ARGS_MAX + 1];   /* CMD, EXPECT_*: owned words of
                                     * the fexctl command, NULL-ended. */
    struct scn_check check;      /* EXPECT, WAIT. */
    int fail_status;             /* EXPECT_FAIL: the exit status wanted,
                                  * -1 any failure. */
    char want_text[128];         /* EXPECT_FAIL: text the error holds;
                                  * EXPECT_OK: text the output holds. */
    uint64_t within_ms;          /* WAIT. */
    int lenient;                 /* WAIT: "try wait", a timeout is noted,
                                  * not a failure. */
    struct scn_fault fault;      /* FAULT. */
};

/* The lab line: the lab a scenario brings up for itself. */
struct scn_lab {
    unsigned hosts;              /* 2 unless given. */
    unsigned vnics;              /* 0: lab up's default. */
    uint64_t memory_mib;         /* 0: default. */
    uint64_t hb_timeout_ms;      /* 0: default. */
    char flavor[8];              /* "kvm" unless given. */
    char no_iommu[64];           /* "h2,h3" or "". */
    int netns;
};

struct scn {
    char file[PATH_MAX];         /* As given to the parser. */
    char name[64];               /* "name" line, or the file's base name. */
    struct scn_lab lab;
    struct scn_step *steps;      /* Owned. */
    size_t n_steps;
};

/* Frees what 'scn' owns and 'scn' itself; NULL is a no-op. */
void scn_destroy(struct scn *scn);

#endif
