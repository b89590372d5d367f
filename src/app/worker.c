// worker.c — the thread that runs session_step off the UI thread, so the window keeps answering
// input and redrawing its toolbar while a slow step (no cache, a long sequence) computes. One
// job at a time: the UI submits a step, then polls (or waits) for its result; while a job runs
// the UI does not touch the Session. When the job ends the worker pushes an SDL user event so
// a window asleep in SDL_WaitEvent wakes up.
//
// What is not here: what a finished step means for the window (app_step_finished,
// window_app.c).
#include "app/window.h"

#include <string.h>

static void *worker_main(void *arg) {
    AppState *a = arg;
    StepWorker *w = &a->worker;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->job && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        bool ok = session_step(a->s); // the UI thread does not touch the session meanwhile
        pthread_mutex_lock(&w->mu);
        w->job = false;
        w->done = true;
        w->ok = ok;
        pthread_cond_broadcast(&w->cv);
        if (w->wake_event) {
            SDL_Event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = w->wake_event;
            SDL_PushEvent(&ev); // thread-safe: wakes the UI from SDL_WaitEvent
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void worker_start(AppState *a, Uint32 wake_event) {
    StepWorker *w = &a->worker;
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->wake_event = wake_event;
    if (pthread_create(&w->thread, NULL, worker_main, a) == 0) {
        w->started = true;
        a->async = true;
    } else {
        a->async = false; // steps then run on the UI thread
    }
}

void worker_stop(AppState *a) {
    StepWorker *w = &a->worker;
    if (!w->started)
        return;
    app_quiesce(a);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    w->started = false;
    a->async = false;
}

void worker_submit(AppState *a) {
    StepWorker *w = &a->worker;
    pthread_mutex_lock(&w->mu);
    w->done = false;
    w->job = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool worker_wait(AppState *a) {
    StepWorker *w = &a->worker;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    w->done = false;
    bool ok = w->ok;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

bool worker_poll(AppState *a, bool *ok) {
    StepWorker *w = &a->worker;
    pthread_mutex_lock(&w->mu);
    bool done = w->done;
    if (done) {
        w->done = false;
        *ok = w->ok;
    }
    pthread_mutex_unlock(&w->mu);
    return done;
}
