// util.c — the engine's small services: error messages, checked allocation, the monotonic
// clock, reading whole files, atomic file writes, the UTF-8 walker, and llama2.c's xorshift64*
// random numbers.
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

// ----------------------------------------------------------------------------------------------
// Files

KvStatus kv_read_file(const char *path, size_t max, unsigned char **out, size_t *n,
                      KvError *err) {
    *out = NULL;
    *n = 0;
    // Non-blocking, so that opening a FIFO with no writer does not hang; fstat then turns it
    // (and directories and devices) away before anything is read.
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    KvStatus st = KV_OK;
    unsigned char *buf = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = kv_error(err, KV_ERR_INPUT, "%s: cannot read (not a regular file)", path);
        goto done;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    char limit[48];
    if (max % ((size_t)1 << 20) == 0)
        snprintf(limit, sizeof limit, "%zu MiB", max >> 20);
    else
        snprintf(limit, sizeof limit, "%zu bytes", max);
    if ((uint64_t)sb.st_size > (uint64_t)max) {
        st = kv_error(err, KV_ERR_INPUT, "%s: larger than %s", path, limit);
        goto done;
    }
    // The size is a hint (files in /proc say 0, a file may grow while read): read to the end,
    // with room for one byte more than expected and the NUL.
    size_t cap = (size_t)sb.st_size + 2 > 4096 ? (size_t)sb.st_size + 2 : 4096, len = 0;
    buf = kv_malloc(cap);
    for (;;) {
        if (cap - len < 2) {
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            buf = kv_realloc(buf, cap);
        }
        ssize_t got = read(fd, buf + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            st = kv_error(err, KV_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
            goto done;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len > max) {
            st = kv_error(err, KV_ERR_INPUT, "%s: larger than %s", path, limit);
            goto done;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *n = len;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return st;
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

// ----------------------------------------------------------------------------------------------
// UTF-8

int kv_utf8_next(const char *s, size_t n, uint32_t *cp) {
    if (n == 0)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0];
    if (c < 0x80) {
        if (cp)
            *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0)
        len = 2, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        len = 3, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0; // a continuation byte, or 0xF8..0xFF
    if ((size_t)len > n)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    if (cp)
        *cp = v;
    return len;
}

long kv_utf8_count(const char *s, size_t n) {
    long count = 0;
    for (size_t i = 0; i < n; count++) {
        int k = kv_utf8_next(s + i, n - i, NULL);
        if (k == 0)
            return -1;
        i += (size_t)k;
    }
    return count;
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
