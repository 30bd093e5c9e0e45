/* hvmig: see hvmig.h. */
#include "hvmig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fx_err.h"
#include "hv.h"

/* QEMU's own stream: both libvirtds of a lab are on this machine. */
#define HVMIG_STREAM_URI "tcp://127.0.0.1"

struct hvmig {
    struct hv *hv;                 /* Borrowed. */
    /* The watcher's calls go on a connection of their own (hv, else):
     * libvirt's client sent a call made on the connection whose
     * virDomainMigrate3 is out (for the whole migration) up to a second
     * late, 1 stop in 4 here; on its own one a stop takes 8-48 ms. */
    struct hv *ctl;                /* Owned; NULL: none could be opened. */
    char vm[64];
    char dst_uri[4200];
    pthread_t thread;
    pthread_t watcher;
    int joined;
    /* The watcher naps HVMIG_POLL_MS between looks, woken early by what
     * it waits for (a request, the migration's end): a join or a stop
     * does not wait out its nap. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int poked;                     /* Under 'lock'. */
    int watching;                  /* The watcher was started. */
    _Atomic int done;              /* Set by the thread as it ends. */
    _Atomic int released;          /* Set by hvmig_release(). */
    _Atomic int abort;             /* Set by hvmig_abort(). */
    _Atomic int stop_req;          /* Set by hvmig_stop(). */
    _Atomic int stop_state;        /* Set by the watcher: 1 stopped, -1
                                    * failed (stop_err). */
    _Atomic int qemu_stopped;      /* Set by the watcher: unpaced, QEMU
                                    * stopped the guest itself. */
    struct fx_err stop_err;        /* Written before stop_state. */
    int paced;                     /* HVMIG_PACE_MIB_S until released. */
    /* Written by the thread, read after the join. */
    int rc;
    struct fx_err err;
    struct hv_mig_stats st;
};

/* The connection for the watcher's calls. */
static struct hv *
hvmig_ctl(const struct hvmig *m)
{
    return m->ctl ? m->ctl : m->hv;
}

/* Wakes the watcher now. */
static void
hvmig_poke(struct hvmig *m)
{
    pthread_mutex_lock(&m->lock);
    m->poked = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
}

/* The watcher's nap: HVMIG_POLL_MS, or until poked. */
static void
hvmig_nap(struct hvmig *m)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += HVMIG_POLL_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (!m->poked
           && pthread_cond_timedwait(&m->wake, &m->lock, &until) == 0) {
    }
    m->poked = 0;
    pthread_mutex_unlock(&m->lock);
}

/* The watcher: once released, lifts the pace, and again every poll
 * until the end (libvirt may apply its pace after a first lift, as QEMU's
 * migration begins; setting the same speed again costs nothing).  Asked
 * to abort, it cancels libvirt's job, and again every poll until the end:
 * an abort before libvirt's job exists (its first phases) fails, and the
 * migration would go on; one while QEMU finishes is harmless.  So the
 * loop never waits for libvirt. */
static void *
hvmig_watch(void *arg)
{
    struct hvmig *m = arg;

    while (!m->done) {
        if (m->abort) {
            hv_abort_job(hvmig_ctl(m), m->vm, NULL);
        } else if (m->stop_req && !m->stop_state) {
            /* virDomainSuspend waits for libvirt's job like the rest
             * (seconds, at times): here, not in the agent's loop, whose
             * heartbeats must go on. */
            int rc = hv_suspend(hvmig_ctl(m), m->vm, &m->stop_err);

            m->stop_state = rc ? -1 : 1;
            m->released = !rc;
        } else if (m->released && m->paced) {
            hv_migrate_speed(hvmig_ctl(m), m->vm, HVMIG_FULL_MIB_S, NULL);
        } else if (!m->paced && !m->qemu_stopped) {
            int running = 1;

            m->qemu_stopped = !hv_is_running(hvmig_ctl(m), m->vm, &running,
                                             NULL)
                              && !running;
        }
        hvmig_nap(m);
    }
    return NULL;
}

static void *
hvmig_run(void *arg)
{
    struct hvmig *m = arg;

    m->rc = hv_migrate(m->hv, m->vm, m->dst_uri, HVMIG_STREAM_URI,
                       m->paced ? HVMIG_PACE_MIB_S : HVMIG_FULL_MIB_S,
                       &m->st, &m->err);
    m->done = 1;
    hvmig_poke(m);
    return NULL;
}

/* A condition variable timed on CLOCK_MONOTONIC (hvmig_nap). */
static void
hvmig_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

static void
hvmig_free(struct hvmig *m)
{
    hv_close(m->ctl);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int
hvmig_start(struct hv *hv, const char *vm, const char *dst_uri,
            int paced, struct hvmig **mp, struct fx_err *err)
{
    struct hvmig *m = calloc(1, sizeof *m);
    struct fx_err e;
    int rc;

    if (!m) {
        abort();
    }
    m->hv = hv;
    if (hv_open_again(hv, &m->ctl, &e)) {
        m->ctl = NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    hvmig_cond_init(&m->wake);
    m->paced = paced;
    m->released = !paced;
    snprintf(m->vm, sizeof m->vm, "%s", vm);
    snprintf(m->dst_uri, sizeof m->dst_uri, "%s", dst_uri);
    rc = pthread_create(&m->thread, NULL, hvmig_run, m);
    if (rc) {
        hvmig_free(m);
        return fx_err_set(err, -rc, "cannot start libvirt's migration: %s",
                          strerror(rc));
    }
    rc = pthread_create(&m->watcher, NULL, hvmig_watch, m);
    m->watching = !rc;
    if (rc) {
        hvmig_cancel(m);
        hvmig_free(m);
        return fx_err_set(err, -rc, "cannot watch libvirt's migration: %s",
                          strerror(rc));
    }
    *mp = m;
    return 0;
}

int
hvmig_wait(struct hvmig *m, struct hv_mig_stats *st, struct fx_err *err)
{
    if (!m->joined) {
        pthread_join(m->thread, NULL);
        pthread_join(m->watcher, NULL);
        m->joined = 1;
    }
    if (m->rc) {
        if (err) {
            *err = m->err;
        }
        return m->rc;
    }
    *st = m->st;
    return 0;
}

int
hvmig_done(const struct hvmig *m)
{
    return m->done;
}

void
hvmig_release(struct hvmig *m)
{
    m->released = 1;
    hvmig_poke(m);
}

void
hvmig_stop(struct hvmig *m)
{
    m->stop_req = 1;
    hvmig_poke(m);
}

int
hvmig_qemu_stopped(const struct hvmig *m)
{
    return m->qemu_stopped || m->done;
}

int
hvmig_stopped(struct hvmig *m, struct fx_err *err)
{
    if (m->stop_state < 0) {
        if (err) {
            *err = m->stop_err;
        }
        return -1;
    }
    if (m->stop_state > 0) {
        return 1;
    }
    /* The watcher is gone: QEMU's migration ended first (it stopped the
     * guest itself, or failed: its outcome tells). */
    return m->done ? 2 : 0;
}

void
hvmig_abort(struct hvmig *m)
{
    m->released = 1;
    m->abort = 1;
    hvmig_poke(m);
}

void
hvmig_cancel(struct hvmig *m)
{
    if (!m || m->joined) {
        return;
    }
    m->released = 1;
    m->abort = 1;
    hvmig_poke(m);
    /* Fails harmlessly if QEMU finished meanwhile; the watcher tries
     * again until the end, unless there is none. */
    hv_abort_job(hvmig_ctl(m), m->vm, NULL);
    pthread_join(m->thread, NULL);
    if (m->watching) {
        pthread_join(m->watcher, NULL);
    }
    m->joined = 1;
}

void
hvmig_destroy(struct hvmig *m)
{
    if (m) {
        hvmig_cancel(m);
        hvmig_free(m);
    }
}
