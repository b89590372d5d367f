// pool.c — the engine's worker threads: a job is split into parts, the caller runs part 0 and
// the workers the others, and pool_run returns when every part is done.
//
// A step of a small model is a few hundred matrix products of tens of microseconds each, so a
// wake-up must cost less than that: workers spin on the job counter for a short while after
// each job (the next product follows at once) and only then sleep on a condition variable, so a
// pool between steps costs no CPU. What this file does not do: split work (kernels.c and
// forward.c choose the parts; each part's result must not depend on the number of parts).
#include "engine/engine.h"
#include "engine/kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define POOL_SPIN 20000 // polls of the job counter before a worker or the caller sleeps

#if defined(__x86_64__) || defined(__i386__)
#define POOL_PAUSE() __builtin_ia32_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

struct KvPool {
    int threads; // counting the caller
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake; // a new job, or quit
    pthread_cond_t done; // the last part of a job finished
    atomic_uint job;     // incremented for every job
    atomic_int left;     // parts of the current job not finished
    atomic_int sleepers; // workers waiting on wake
    atomic_bool caller_sleeps;
    bool quit;
    void (*fn)(void *arg, int part);
    void *arg;
    int parts;
};

typedef struct {
    KvPool *p;
    int index; // 1 .. threads-1: the part it runs
} Worker;

static void part_done(KvPool *p) {
    // (sequentially consistent, as the caller's store of caller_sleeps and load of left are: one
    // of the two sees the other, so a sleeping caller is always woken)
    if (atomic_fetch_sub(&p->left, 1) == 1 && atomic_load(&p->caller_sleeps)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    KvPool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        unsigned job = atomic_load_explicit(&p->job, memory_order_acquire);
        for (int i = 0; job == seen && i < POOL_SPIN; i++) {
            POOL_PAUSE();
            job = atomic_load_explicit(&p->job, memory_order_acquire);
        }
        if (job == seen) {
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleepers, 1);
            while ((job = atomic_load(&p->job)) == seen && !p->quit)
                pthread_cond_wait(&p->wake, &p->lock);
            atomic_fetch_sub(&p->sleepers, 1);
            const bool quit = p->quit;
            pthread_mutex_unlock(&p->lock);
            if (quit)
                break;
        }
        seen = job;
        if (w->index < p->parts)
            p->fn(p->arg, w->index);
        part_done(p);
    }
    free(w);
    return NULL;
}

KvPool *pool_new(int threads) {
    if (threads <= 1)
        return NULL;
    KvPool *p = kv_calloc(1, sizeof *p);
    p->threads = threads;
    p->workers = kv_calloc((size_t)threads, sizeof *p->workers);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->job, 0);
    atomic_init(&p->left, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeps, false);
    for (int i = 1; i < threads; i++) {
        Worker *w = kv_malloc(sizeof *w);
        *w = (Worker){p, i};
        if (pthread_create(&p->workers[i], NULL, worker_main, w) != 0) {
            free(w); // fewer threads than asked: the parts are shared by those that started
            p->threads = i;
            break;
        }
    }
    return p;
}

void pool_free(KvPool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int pool_size(const KvPool *p) {
    return p ? p->threads : 1;
}

// Runs parts in turn: the caller takes part 0 and every part a worker does not exist for.
void pool_run(KvPool *p, int parts, void (*fn)(void *arg, int part), void *arg) {
    if (!p || parts <= 1) {
        for (int i = 0; i < parts; i++)
            fn(arg, i);
        return;
    }
    const int n = p->threads;
    p->fn = fn;
    p->arg = arg;
    p->parts = parts < n ? parts : n;
    atomic_store_explicit(&p->left, n - 1, memory_order_relaxed); // every worker reports
    atomic_fetch_add(&p->job, 1); // sequentially consistent against a worker going to sleep
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(arg, 0);
    for (int i = n; i < parts; i++) // more parts than threads: the caller runs the rest
        fn(arg, i);
    for (int i = 0; atomic_load_explicit(&p->left, memory_order_acquire) > 0; i++) {
        if (i < POOL_SPIN) {
            POOL_PAUSE();
            continue;
        }
        pthread_mutex_lock(&p->lock);
        atomic_store(&p->caller_sleeps, true);
        while (atomic_load(&p->left) > 0)
            pthread_cond_wait(&p->done, &p->lock);
        atomic_store(&p->caller_sleeps, false);
        pthread_mutex_unlock(&p->lock);
    }
}
