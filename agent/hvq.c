/* hvq: see hvq.h. */
#include "hvq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_err.h"

struct hvq_job {
    hvq_work_fn *work;
    hvq_done_fn *done;
    void *arg;
    struct hvq_job *next;
};

/* A FIFO of jobs. */
struct hvq_list {
    struct hvq_job *head;
    struct hvq_job **tail;
};

struct hvq {
    struct event *wake;            /* The pipe's read end, on the loop. */
    int pipe[2];                   /* The worker writes a byte per job. */
    pthread_t thread;
    pthread_mutex_t lock;          /* Guards the two lists and 'stop'. */
    pthread_cond_t cond;           /* Signalled on a push and the stop. */
    struct hvq_list todo;          /* Queued, not yet taken. */
    struct hvq_list finished;      /* Worked, 'done' not yet run. */
    int stop;                      /* hvq_destroy(): end the thread. */
};

static void
hvq_list_init(struct hvq_list *l)
{
    l->head = NULL;
    l->tail = &l->head;
}

static void
hvq_list_add(struct hvq_list *l, struct hvq_job *j)
{
    j->next = NULL;
    *l->tail = j;
    l->tail = &j->next;
}

static struct hvq_job *
hvq_list_take(struct hvq_list *l)
{
    struct hvq_job *j = l->head;

    if (j) {
        l->head = j->next;
        if (!l->head) {
            l->tail = &l->head;
        }
    }
    return j;
}

static void *
hvq_run(void *arg)
{
    struct hvq *q = arg;
    struct hvq_job *j;
    char byte = 1;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->stop && !q->todo.head) {
            pthread_cond_wait(&q->cond, &q->lock);
        }
        if (q->stop) {
            break;
        }
        j = hvq_list_take(&q->todo);
        pthread_mutex_unlock(&q->lock);
        j->work(j->arg);
        pthread_mutex_lock(&q->lock);
        hvq_list_add(&q->finished, j);
        /* A full pipe already holds a wake-up: losing this one is
         * harmless, the loop takes every finished job at once. */
        if (write(q->pipe[1], &byte, 1) < 0 && errno != EAGAIN) {
            abort();
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* The worker finished jobs: their 'done', on the loop, in order. */
static void
hvq_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hvq *q = arg;
    struct hvq_list done;
    struct hvq_job *j;
    char buf[64];

    (void) what;
    while (read(fd, buf, sizeof buf) > 0) {
        continue;
    }
    pthread_mutex_lock(&q->lock);
    done = q->finished;
    if (!done.head) {
        done.tail = &done.head;
    }
    hvq_list_init(&q->finished);
    pthread_mutex_unlock(&q->lock);
    while ((j = hvq_list_take(&done))) {
        j->done(j->arg, 0);
        free(j);
    }
}

static int
hvq_pipe(int fds[2], struct fx_err *err)
{
    if (pipe(fds)) {
        return fx_err_set(err, -errno, "cannot make the hypervisor "
                          "worker's pipe: %s", strerror(errno));
    }
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

/* Frees 'q', whose thread is not running. */
static void
hvq_free(struct hvq *q)
{
    event_free(q->wake);
    close(q->pipe[0]);
    close(q->pipe[1]);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

int
hvq_create(struct event_base *base, struct hvq **qp, struct fx_err *err)
{
    struct hvq *q = calloc(1, sizeof *q);
    int rc;

    if (!q) {
        abort();
    }
    if (hvq_pipe(q->pipe, err)) {
        free(q);
        return err->code;
    }
    hvq_list_init(&q->todo);
    hvq_list_init(&q->finished);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->wake = event_new(base, q->pipe[0], EV_READ | EV_PERSIST, hvq_wake_cb,
                        q);
    if (!q->wake || event_add(q->wake, NULL)) {
        abort();
    }
    rc = pthread_create(&q->thread, NULL, hvq_run, q);
    if (rc) {
        hvq_free(q);
        return fx_err_set(err, -rc, "cannot start the hypervisor worker: "
                          "%s", strerror(rc));
    }
    *qp = q;
    return 0;
}

void
hvq_push(struct hvq *q, hvq_work_fn *work, hvq_done_fn *done, void *arg)
{
    struct hvq_job *j = calloc(1, sizeof *j);

    if (!j) {
        abort();
    }
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&q->lock);
    hvq_list_add(&q->todo, j);
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void
hvq_destroy(struct hvq *q)
{
    struct hvq_job *j;

    if (!q) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    /* The thread is gone: the lists are ours.  A 'done' may queue
     * another job; it is cancelled in turn. */
    while ((j = hvq_list_take(&q->finished))
           || (j = hvq_list_take(&q->todo))) {
        j->done(j->arg, 1);
        free(j);
    }
    hvq_free(q);
}
