// pool.c — the engine's worker threads: a job is cut into chunks, and the caller and the workers
// take chunks from one counter until none is left; pool_run returns when every chunk is done.
//
// The caller never waits for a worker to start: on a busy machine a worker may not run for a
// while, and then the caller simply takes every chunk itself. It waits only for chunks a worker
// has taken and not yet finished, so chunks are small. A step of a small model is a few
// hundred matrix products of tens of microseconds each, so workers spin on the job counter for a
// short while after each job (the next product follows at once) and only then sleep on a
// condition variable: a pool between steps costs no CPU. What this file does not do: split
// work (kernels.c and forward.c cut the chunks; each chunk's result must not depend on the
// thread that computes it).
#include "engine/engine.h"
#include "engine/kernels.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define POOL_SPIN 20000 // polls of the job counter before a worker or the caller sleeps

#if defined(__x86_64__) || defined(__i386__)
#define POOL_PAUSE() __builtin_ia32_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

struct KvWorkers {
    int threads; // counting the caller
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake;     // a new job, or quit
    pthread_cond_t done;     // the last chunk of a job finished
    atomic_uint job;         // incremented for every job (what sleeping workers wait on)
    atomic_uint_fast64_t at; // (job << 32) | the next chunk to take
    atomic_int finished;     // chunks of the current job done
    atomic_int sleepers;     // workers waiting on wake
    atomic_bool caller_sleeps;
    bool quit;
    // the current job: written before its job number is published, read only by a thread that
    // has taken one of its chunks (the job cannot end before that chunk is done)
    void (*fn)(void *arg, int chunk, int thread);
    void *arg;
    atomic_int chunks;
};

#define POOL_CLOSED 0x7fffffffu // the chunk index while a job is being set up: none to take

typedef struct {
    KvWorkers *p;
    int index; // 1 .. threads-1
} Worker;

// Takes chunks of job `job` until none is left; returns how many it ran.
static int take_chunks(KvWorkers *p, unsigned job, int thread) {
    int ran = 0;
    uint_fast64_t v = atomic_load(&p->at);
    for (;;) {
        if ((unsigned)(v >> 32) != job ||
            (int)(v & 0xffffffffu) >= atomic_load_explicit(&p->chunks, memory_order_relaxed))
            return ran; // (a stale count only lets the exchange below fail)
        if (!atomic_compare_exchange_weak(&p->at, &v, v + 1))
            continue; // v reloaded
        p->fn(p->arg, (int)(v & 0xffffffffu), thread);
        ran++;
        // sequentially consistent, as the caller's store of caller_sleeps and load of finished
        // are: one of the two sees the other, so a sleeping caller is always woken
        if (atomic_fetch_add(&p->finished, 1) + 1 == atomic_load(&p->chunks) &&
            atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
        v = atomic_load(&p->at);
    }
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    KvWorkers *p = w->p;
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
        take_chunks(p, job, w->index);
    }
    free(w);
    return NULL;
}

KvWorkers *pool_new(int threads) {
    if (threads <= 1)
        return NULL;
    KvWorkers *p = kv_calloc(1, sizeof *p);
    p->threads = threads;
    p->workers = kv_calloc((size_t)threads, sizeof *p->workers);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->job, 0);
    atomic_init(&p->at, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->chunks, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeps, false);
    // workers start with every signal blocked (a thread inherits its creator's mask): a signal
    // meant for the process is then handled by the threads that were there before, which block
    // it around their own critical sections (the registry of temporaries, util.c)
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 1; i < threads; i++) {
        Worker *w = kv_malloc(sizeof *w);
        *w = (Worker){p, i};
        if (pthread_create(&p->workers[i], NULL, worker_main, w) != 0) {
            free(w); // fewer threads than asked: the chunks are shared by those that started
            p->threads = i;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return p;
}

void pool_free(KvWorkers *p) {
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

int pool_size(const KvWorkers *p) {
    return p ? p->threads : 1;
}

void pool_run(KvWorkers *p, int chunks, void (*fn)(void *arg, int chunk, int thread), void *arg) {
    if (!p || chunks <= 1) {
        for (int i = 0; i < chunks; i++)
            fn(arg, i, 0);
        return;
    }
    // closed first: a worker late from the last job cannot take a chunk while this one is set up
    const unsigned job = atomic_load(&p->job) + 1;
    atomic_store(&p->at, (uint_fast64_t)job << 32 | POOL_CLOSED);
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->chunks, chunks);
    atomic_store(&p->finished, 0);
    atomic_store(&p->at, (uint_fast64_t)job << 32); // chunk 0 of the new job
    atomic_store(&p->job, job); // sequentially consistent against a worker going to sleep
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    take_chunks(p, job, 0);
    for (int i = 0; atomic_load(&p->finished) < chunks; i++) { // chunks workers still run
        if (i < POOL_SPIN) {
            POOL_PAUSE();
            continue;
        }
        pthread_mutex_lock(&p->lock);
        atomic_store(&p->caller_sleeps, true);
        while (atomic_load(&p->finished) < chunks)
            pthread_cond_wait(&p->done, &p->lock);
        atomic_store(&p->caller_sleeps, false);
        pthread_mutex_unlock(&p->lock);
    }
}
