/* announce.c -- the mailbox between the HTTP threads and the ingest thread
 * for the gateway's announcements (PUT /v1/requests/{id}).
 *
 * Owns: the queue of announcements waiting for the ingest thread, and the
 * hand-back of each one's answer.
 *
 * Why it looks the way it does:
 * - The store has one writer, the ingest thread (store.h); an announcement
 *   is a write like a BEGIN, so it goes through that thread and into its
 *   next commit. The HTTP thread answers only after that commit, so "201"
 *   means stored, as an ack does for lines.
 * - The ingest loop turns at least every --commit-ms (10 ms by default),
 *   and looks at an atomic count first, so an idle mailbox costs nothing.
 * - An HTTP thread that stops waiting (timeout) leaves its announcement to
 *   the ingest thread, which frees it once answered: whoever finishes last
 *   frees it. At most MAX_WAITING announcements wait at once, so a flood
 *   of PUTs costs bounded memory; past it a PUT is 503.
 */
#include "announce.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "timefmt.h"

#define MAX_WAITING 1024

typedef struct announcement {
    char request_id[LT_WIRE_MAX_ID + 1];
    char app_id[LT_WIRE_MAX_ID + 1];
    char caller[LT_WIRE_MAX_ID + 1];
    int result;
    bool answered;
    bool abandoned; /* its poster stopped waiting: the ingest thread frees it */
    struct announcement *next;
} announcement;

struct lt_announce {
    pthread_mutex_t lock;
    pthread_cond_t answered;
    announcement *waiting, **waiting_tail; /* posted, not applied */
    announcement *applied;                 /* applied, waiting for a commit (ingest thread only) */
    atomic_size_t count;                   /* waiting + applied */
    bool shut;                             /* lt_announce_shut: answer at once */
};

lt_announce *lt_announce_new(void)
{
    lt_announce *an = calloc(1, sizeof *an);
    if (an == NULL)
        return NULL;
    pthread_mutex_init(&an->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&an->answered, &attr);
    pthread_condattr_destroy(&attr);
    an->waiting_tail = &an->waiting;
    return an;
}

/* Under the lock. */
static void answer(lt_announce *an, announcement *a, int result)
{
    atomic_fetch_sub(&an->count, 1);
    if (a->abandoned) {
        free(a);
        return;
    }
    a->result = result;
    a->answered = true;
}

void lt_announce_shut(lt_announce *an)
{
    if (an == NULL)
        return;
    pthread_mutex_lock(&an->lock);
    an->shut = true;
    announcement *lists[] = {an->waiting, an->applied};
    for (size_t i = 0; i < 2; i++)
        for (announcement *a = lists[i], *next; a != NULL; a = next) {
            next = a->next;
            answer(an, a, LT_ANNOUNCE_UNAVAILABLE);
        }
    an->waiting = an->applied = NULL;
    an->waiting_tail = &an->waiting;
    pthread_cond_broadcast(&an->answered);
    pthread_mutex_unlock(&an->lock);
}

void lt_announce_free(lt_announce *an)
{
    if (an == NULL)
        return;
    lt_announce_shut(an);
    /* A poster still waiting would now use freed memory: main.c stops the
     * HTTP server first, so none is. */
    pthread_cond_destroy(&an->answered);
    pthread_mutex_destroy(&an->lock);
    free(an);
}

int lt_announce_post(lt_announce *an, const char *request_id, const char *app_id, const char *caller,
                     int timeout_ms)
{
    assert(request_id != NULL && app_id != NULL);
    if (atomic_load(&an->count) >= MAX_WAITING)
        return LT_ANNOUNCE_UNAVAILABLE;
    announcement *a = calloc(1, sizeof *a);
    if (a == NULL)
        return LT_ANNOUNCE_UNAVAILABLE;
    snprintf(a->request_id, sizeof a->request_id, "%s", request_id);
    snprintf(a->app_id, sizeof a->app_id, "%s", app_id);
    snprintf(a->caller, sizeof a->caller, "%s", caller != NULL ? caller : "");

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&an->lock);
    if (an->shut) {
        pthread_mutex_unlock(&an->lock);
        free(a);
        return LT_ANNOUNCE_UNAVAILABLE;
    }
    *an->waiting_tail = a;
    an->waiting_tail = &a->next;
    atomic_fetch_add(&an->count, 1);
    while (!a->answered)
        if (pthread_cond_timedwait(&an->answered, &an->lock, &deadline) != 0)
            break;
    bool answered = a->answered;
    int result = answered ? a->result : LT_ANNOUNCE_UNAVAILABLE;
    if (!answered)
        a->abandoned = true; /* the ingest thread frees it */
    pthread_mutex_unlock(&an->lock);
    if (answered)
        free(a);
    return result;
}

bool lt_announce_waiting(lt_announce *an)
{
    return an != NULL && atomic_load_explicit(&an->count, memory_order_relaxed) > 0;
}

void lt_announce_apply(lt_announce *an, lt_store *st)
{
    pthread_mutex_lock(&an->lock);
    announcement *list = an->waiting;
    an->waiting = NULL;
    an->waiting_tail = &an->waiting;
    pthread_mutex_unlock(&an->lock);
    /* Store writes outside the lock: posters never wait behind SQLite. */
    for (announcement *a = list; a != NULL; a = a->next) {
        int rc = lt_store_request_enqueue(st, a->request_id, a->app_id, a->caller, lt_time_now_ns());
        a->result = rc < 0 ? LT_ANNOUNCE_FAILED : rc;
        if (rc == LT_ENQUEUE_CREATED)
            LT_COUNT(requests_announced, 1);
    }
    if (list == NULL)
        return;
    announcement *last = list;
    while (last->next != NULL)
        last = last->next;
    last->next = an->applied;
    an->applied = list;
}

void lt_announce_settle(lt_announce *an, bool committed)
{
    if (an == NULL || an->applied == NULL)
        return;
    pthread_mutex_lock(&an->lock);
    for (announcement *a = an->applied, *next; a != NULL; a = next) {
        next = a->next;
        int result = committed ? a->result : LT_ANNOUNCE_FAILED;
        answer(an, a, result);
    }
    an->applied = NULL;
    pthread_cond_broadcast(&an->answered);
    pthread_mutex_unlock(&an->lock);
}
