// util.c — the engine's small services: error messages, checked allocation, the monotonic
// clock, atomic file writes, and llama2.c's xorshift64* random numbers.
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

KvStatus kv_error(KvError *e, KvStatus code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

static void oom(size_t n, const char *file, int line) {
    fprintf(stderr, "kvscope: out of memory: %zu bytes (%s:%d)\n", n, file, line);
    abort();
}

void *kv_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n, file, line);
    return p;
}

void *kv_calloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size, file, line);
    return p;
}

void *kv_malloc_aligned_at(size_t n, const char *file, int line) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1) != 0)
        oom(n, file, line);
    return p;
}

void *kv_realloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n, file, line);
    return q;
}

uint64_t kv_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

KvStatus kv_write_file_atomic(const char *path, const void *data, size_t n, KvError *err) {
    size_t plen = strlen(path);
    char *tmp = kv_malloc(plen + 32);
    snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
    KvStatus st = KV_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path, strerror(errno));
        goto done;
    }
    const char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = kv_error(err, KV_ERR_RUNTIME, "%s: write failed: %s", path,
                          w < 0 ? strerror(errno) : "no space");
            close(fd);
            unlink(tmp);
            goto done;
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
done:
    free(tmp);
    return st;
}

uint32_t kv_rng_u32(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

float kv_rng_f32(uint64_t *state) {
    return (float)(kv_rng_u32(state) >> 8) / 16777216.0f;
}
