// util.c — the engine's small services: error messages, checked allocation, the monotonic
// clock, the parsers of numbers a user types, safe file reading and writing (regular files
// only in, read whole with a limit; exclusive temporaries renamed into place out, removed on a
// signal), the number formatter, the UTF-8 walker, and llama2.c's xorshift64* random numbers.
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
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
// Parsing numbers a user typed

// Digits (and the one sign that strtol/strtod would take) must start the word: strtol itself
// skips leading white space and takes '+', which would let " -1" or "+5" through.
static bool starts_like_number(const char *s, bool allow_minus) {
    if (allow_minus && *s == '-')
        s++;
    return (*s >= '0' && *s <= '9') || *s == '.';
}

KvStatus kv_parse_int(const char *what, const char *s, long lo, long hi, long *out, KvError *err) {
    if (!s)
        return kv_error(err, KV_ERR_INPUT, "%s: needs a value", what);
    char *end;
    errno = 0;
    long v = starts_like_number(s, true) ? strtol(s, &end, 10) : 0;
    if (!starts_like_number(s, true) || errno || end == s || *end != '\0')
        return kv_error(err, KV_ERR_INPUT, "%s: '%s' is not a whole number", what, s);
    if (v < lo || v > hi)
        return kv_error(err, KV_ERR_INPUT, "%s: %ld is out of range (%ld..%ld)", what, v, lo, hi);
    *out = v;
    return KV_OK;
}

KvStatus kv_parse_float(const char *what, const char *s, double lo, double hi, double *out,
                        KvError *err) {
    if (!s)
        return kv_error(err, KV_ERR_INPUT, "%s: needs a value", what);
    char *end = NULL;
    errno = 0;
    bool ok = starts_like_number(s, true);
    double v = ok ? strtod(s, &end) : 0.0;
    // ERANGE with a tiny result (an underflow to a denormal or 0) is still a number the user
    // meant; an overflow is not.
    if (!ok || end == s || *end != '\0' || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return kv_error(err, KV_ERR_INPUT, "%s: '%s' is not a number", what, s);
    if (v < lo || v > hi)
        return kv_error(err, KV_ERR_INPUT, "%s: %g is out of range (%g..%g)", what, v, lo, hi);
    *out = v;
    return KV_OK;
}

KvStatus kv_parse_u64(const char *what, const char *s, uint64_t *out, KvError *err) {
    if (!s)
        return kv_error(err, KV_ERR_INPUT, "%s: needs a value", what);
    if (!(*s >= '0' && *s <= '9'))
        return kv_error(err, KV_ERR_INPUT, "%s: '%s' is not a whole number >= 0", what, s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return kv_error(err, KV_ERR_INPUT, "%s: %s is larger than 2^64 - 1", what, s);
    if (errno || *end != '\0')
        return kv_error(err, KV_ERR_INPUT, "%s: '%s' is not a whole number >= 0", what, s);
    *out = (uint64_t)v;
    return KV_OK;
}

KvStatus kv_parse_seed(const char *what, const char *s, uint64_t *out, KvError *err) {
    uint64_t v;
    KvStatus st = kv_parse_u64(what, s, &v, err);
    if (st)
        return st;
    if (v == 0)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: 0 is not a usable seed (xorshift64* stays at 0: every draw would be "
                        "0.0); use 1 .. 2^64-1",
                        what);
    *out = v;
    return KV_OK;
}

// A run of decimal digits at *p as a bounded number; false when there is none or it exceeds cap.
static bool digits(const char **p, long cap, long *out) {
    const char *s = *p;
    long v = 0;
    if (!(*s >= '0' && *s <= '9'))
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (cap - (*s - '0')) / 10)
            v = cap + 1; // saturate: reported as out of range, never wrapped
        else
            v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

KvStatus kv_parse_size(const char *what, const char *s, int min_w, int min_h, int max_side,
                       double max_pixels, int *w, int *h, KvError *err) {
    if (!s)
        return kv_error(err, KV_ERR_INPUT, "%s: needs a value (e.g. 1920x1080)", what);
    const long cap = 1L << 30;
    const char *p = s;
    long a, b;
    if (!digits(&p, cap, &a) || (*p != 'x' && *p != 'X') || (p++, !digits(&p, cap, &b)) || *p)
        return kv_error(err, KV_ERR_INPUT, "%s: '%s' is not WIDTHxHEIGHT (e.g. 1920x1080)", what,
                        s);
    bool too_many = max_pixels > 0 && (double)a * (double)b > max_pixels;
    if (a < min_w || b < min_h || a > max_side || b > max_side || too_many) {
        if (max_pixels > 0)
            return kv_error(err, KV_ERR_INPUT,
                            "%s: '%s' is out of range (%dx%d .. %d per side, at most %.0f pixels)",
                            what, s, min_w, min_h, max_side, max_pixels);
        return kv_error(err, KV_ERR_INPUT, "%s: '%s' is out of range (%dx%d .. %dx%d)", what, s,
                        min_w, min_h, max_side, max_side);
    }
    *w = (int)a;
    *h = (int)b;
    return KV_OK;
}

// ----------------------------------------------------------------------------------------------
// Memory and input files

uint64_t kv_memory_available(void) {
    uint64_t best = UINT64_MAX;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
        best = (uint64_t)pages * (uint64_t)page;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1 && kb * 1024ull < best)
                best = kb * 1024ull;
        fclose(f);
    }
    const int limits[] = {RLIMIT_AS, RLIMIT_DATA};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct rlimit rl;
        if (getrlimit(limits[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            (uint64_t)rl.rlim_cur < best)
            best = (uint64_t)rl.rlim_cur;
    }
    return best;
}

int kv_open_regular(const char *path, uint64_t *size, KvError *err) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        kv_error(err, KV_ERR_INPUT, "%s: cannot open: %s", path, strerror(e));
        errno = e; // for callers that word the message themselves
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        kv_error(err, KV_ERR_INPUT, "%s: cannot read (not a regular file)", path);
        errno = 0;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *size = (uint64_t)sb.st_size;
    return fd;
}

KvStatus kv_check_output(const char *path, const char *const *exts, const char *const *inputs,
                         KvError *err) {
    if (!path || !*path)
        return kv_error(err, KV_ERR_INPUT, "output: no file name given");
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (n + 32 >= PATH_MAX)
        return kv_error(err, KV_ERR_INPUT, "%.64s...: the path is too long (%zu bytes, at most %d)",
                        path, n, PATH_MAX - 33);
    if (strlen(base) > NAME_MAX)
        return kv_error(err, KV_ERR_INPUT, "%s: the file name is too long (%zu bytes, at most %d)",
                        path, strlen(base), NAME_MAX);
    if (!*base)
        return kv_error(err, KV_ERR_INPUT, "%s: no file name (it ends in '/')", path);
    if (exts) {
        const char *dot = strrchr(base, '.');
        bool ok = false;
        char list[128] = "";
        for (int i = 0; exts[i]; i++) {
            ok = ok || (dot && strcasecmp(dot + 1, exts[i]) == 0);
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s.%s",
                     i == 0        ? ""
                     : exts[i + 1] ? ", "
                                   : " or ",
                     exts[i]);
        }
        if (!ok)
            return kv_error(err, KV_ERR_INPUT, "%s: unknown file type (the name must end in %s)",
                            path, list);
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kv_error(err, KV_ERR_INPUT, "%s: is a directory", path);
    for (int i = 0; inputs && inputs[i]; i++)
        if (kv_same_file(path, inputs[i]))
            return kv_error(err, KV_ERR_INPUT,
                            "%s: is one of this run's inputs (%s): writing it would destroy it",
                            path, inputs[i]);
    char dir[PATH_MAX];
    size_t dn = slash ? (size_t)(slash - path) : 0;
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (dn == 0)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)dn, path);
    if (stat(dir, &st) != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot write: directory %s: %s", path, dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot write: directory %s: %s", path, dir,
                        strerror(errno));
    return KV_OK;
}

KvStatus kv_read_file(const char *path, size_t max, unsigned char **out, size_t *n, KvError *err) {
    *out = NULL;
    *n = 0;
    uint64_t size = 0;
    int fd = kv_open_regular(path, &size, err);
    if (fd < 0)
        return err ? err->code : KV_ERR_INPUT;
    KvStatus st = KV_OK;
    unsigned char *buf = NULL;
    char limit[48];
    if (max % ((size_t)1 << 20) == 0)
        snprintf(limit, sizeof limit, "%zu MiB", max >> 20);
    else
        snprintf(limit, sizeof limit, "%zu bytes", max);
    if (size > (uint64_t)max) {
        st = kv_error(err, KV_ERR_INPUT, "%s: larger than %s", path, limit);
        goto done;
    }
    // The size is a hint (files in /proc say 0, a file may grow while read): read to the end,
    // with room for one byte more than expected and the NUL.
    size_t cap = (size_t)size + 2 > 4096 ? (size_t)size + 2 : 4096, len = 0;
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

bool kv_same_file(const char *a, const char *b) {
    struct stat x, y;
    if (!a || !b || stat(a, &x) != 0 || stat(b, &y) != 0)
        return false;
    return x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

// ----------------------------------------------------------------------------------------------
// Temporary files: created exclusively beside their destination, removed on a signal
//
// The registry is the one piece of process-wide mutable state in the engine, and it has to be:
// a signal handler can reach nothing else. Slots are claimed with atomic operations (an export
// may run off the main thread); the handler only calls unlink(), which is async-signal-safe.

#define TEMP_SLOTS 16
#define TEMP_PATH_MAX 4096

enum { SLOT_FREE = 0, SLOT_WRITING = 1, SLOT_LIVE = 2 };
static struct {
    volatile int state;
    char path[TEMP_PATH_MAX];
    // a folder of frames: path/<prefix><index, `digits` wide>.<ext> for index 1..count
    bool folder;
    char prefix[32], ext[8];
    int digits;
    volatile int count;
} temp_slots[TEMP_SLOTS];

// Removes a frame folder's frames and the folder, with async-signal-safe calls only: the names
// are formatted by hand (snprintf is not safe in a handler).
static void temp_remove_folder(int i) {
    char name[TEMP_PATH_MAX + 64];
    size_t n = strlen(temp_slots[i].path);
    memcpy(name, temp_slots[i].path, n);
    name[n++] = '/';
    size_t np = strlen(temp_slots[i].prefix), ne = strlen(temp_slots[i].ext);
    memcpy(name + n, temp_slots[i].prefix, np);
    for (int k = 1; k <= temp_slots[i].count; k++) {
        char digits[16];
        int nd = 0;
        for (int v = k; v > 0 || nd < temp_slots[i].digits; v /= 10)
            digits[nd++] = (char)('0' + v % 10);
        size_t at = n + np;
        while (nd > 0)
            name[at++] = digits[--nd];
        name[at++] = '.';
        memcpy(name + at, temp_slots[i].ext, ne);
        name[at + ne] = '\0';
        unlink(name);
    }
    rmdir(temp_slots[i].path);
}
static volatile int temp_handlers_installed;
static struct sigaction temp_old[3];
static const int temp_signals[3] = {SIGINT, SIGTERM, SIGHUP};

static void temp_on_signal(int sig) {
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (__atomic_load_n(&temp_slots[i].state, __ATOMIC_ACQUIRE) == SLOT_LIVE &&
            !temp_slots[i].folder)
            unlink(temp_slots[i].path); // files first: a frame being written is in a folder
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (__atomic_load_n(&temp_slots[i].state, __ATOMIC_ACQUIRE) == SLOT_LIVE &&
            temp_slots[i].folder)
            temp_remove_folder(i);
    for (int i = 0; i < 3; i++) {
        if (temp_signals[i] != sig)
            continue;
        if (temp_old[i].sa_handler == SIG_IGN)
            return;
        if (temp_old[i].sa_handler != SIG_DFL && !(temp_old[i].sa_flags & SA_SIGINFO)) {
            temp_old[i].sa_handler(sig); // whoever handled it before (SDL's quit event)
            return;
        }
        sigaction(sig, &temp_old[i], NULL);
        raise(sig); // the default action: die of the signal, now without the temporaries
    }
}

// Blocks the signals the registry handles (the previous mask into *old).
static void temp_block(sigset_t *block, sigset_t *old) {
    sigemptyset(block);
    for (int i = 0; i < 3; i++)
        sigaddset(block, temp_signals[i]);
    pthread_sigmask(SIG_BLOCK, block, old);
}

static void temp_install(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&temp_handlers_installed, &expected, 1, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < 3; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = temp_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(temp_signals[i], NULL, &temp_old[i]);
        if (temp_old[i].sa_handler == SIG_IGN) // nohup and friends: leave it ignored
            continue;
        sigaction(temp_signals[i], &sa, NULL);
    }
}

static int temp_register_as(const char *tmp, bool folder, const char *prefix, int digits,
                            const char *ext) {
    if (strlen(tmp) >= TEMP_PATH_MAX)
        return -1;
    for (int i = 0; i < TEMP_SLOTS; i++) {
        int expected = SLOT_FREE;
        if (__atomic_compare_exchange_n(&temp_slots[i].state, &expected, SLOT_WRITING, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            memcpy(temp_slots[i].path, tmp, strlen(tmp) + 1);
            temp_slots[i].folder = folder;
            temp_slots[i].count = 0;
            snprintf(temp_slots[i].prefix, sizeof temp_slots[i].prefix, "%s", prefix);
            snprintf(temp_slots[i].ext, sizeof temp_slots[i].ext, "%s", ext);
            temp_slots[i].digits = digits;
            __atomic_store_n(&temp_slots[i].state, SLOT_LIVE, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

// Errors a user fixes by choosing another path are bad input; a full disk or an I/O error is a
// runtime failure, whichever call meets it.
static KvStatus write_errno_status(int e) {
    return e == ENOSPC || e == EDQUOT || e == EIO || e == ENOMEM || e == EFBIG ? KV_ERR_RUNTIME
                                                                               : KV_ERR_INPUT;
}

static mode_t kv_umask(void) {
    mode_t m = umask(022); // the only portable way to read it is to set it and put it back
    umask(m);
    return m;
}

static int temp_register(const char *tmp) {
    return temp_register_as(tmp, false, "", 0, "");
}

int kv_temp_folder_create(const char *dir, const char *prefix, int digits, const char *ext,
                          char *tmp, size_t cap, KvError *err) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    temp_install();
    if (strlen(prefix) >= 32 || strlen(ext) >= 8 || digits > 12 || n + 16 >= cap ||
        n + 16 >= TEMP_PATH_MAX) {
        kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", dir, strerror(ENAMETOOLONG));
        return -1;
    }
    snprintf(tmp, cap, "%.*s.tmp-XXXXXX", (int)n, dir);
    sigset_t block, old;
    temp_block(&block, &old);
    if (!mkdtemp(tmp)) {
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        kv_error(err, write_errno_status(e), "%s: cannot create a folder beside it: %s", dir,
                 strerror(e));
        return -1;
    }
    int slot = temp_register_as(tmp, true, prefix, digits, ext);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    chmod(tmp, 0755 & ~kv_umask());
    if (slot < 0) {
        rmdir(tmp);
        kv_error(err, KV_ERR_RUNTIME, "%s: cannot write: too many files at once", dir);
    }
    return slot;
}

void kv_temp_folder_count(int slot, int count) {
    if (slot >= 0 && slot < TEMP_SLOTS)
        __atomic_store_n(&temp_slots[slot].count, count, __ATOMIC_RELEASE);
}

void kv_temp_folder_forget(int slot, bool remove) {
    if (slot < 0 || slot >= TEMP_SLOTS)
        return;
    if (remove)
        temp_remove_folder(slot);
    __atomic_store_n(&temp_slots[slot].state, SLOT_FREE, __ATOMIC_RELEASE);
}

void kv_temp_forget(const char *tmp, bool remove) {
    for (int i = 0; i < TEMP_SLOTS; i++) {
        if (__atomic_load_n(&temp_slots[i].state, __ATOMIC_ACQUIRE) == SLOT_LIVE &&
            !temp_slots[i].folder && strcmp(temp_slots[i].path, tmp) == 0) {
            if (remove)
                unlink(tmp);
            __atomic_store_n(&temp_slots[i].state, SLOT_FREE, __ATOMIC_RELEASE);
            return;
        }
    }
    if (remove)
        unlink(tmp);
}

int kv_temp_create(const char *path, char *tmp, size_t cap, KvError *err) {
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0, base_len = strlen(path) - dir_len;
    if (base_len == 0) {
        kv_error(err, KV_ERR_INPUT, "%s: cannot write: no file name", path);
        return -1;
    }
    temp_install();
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t r = kv_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)attempt * 0x9E3779B9u;
        uint64_t rnd;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) == (ssize_t)sizeof rnd)
            r ^= rnd;
        char suffix[8];
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";
        for (int i = 0; i < 6; i++, r >>= 6)
            suffix[i] = alphabet[r % 54];
        suffix[6] = '\0';
        int n;
        if (base_len + 11 <= NAME_MAX) // "out.png.tmp-Ab3xYz"
            n = snprintf(tmp, cap, "%s.tmp-%s", path, suffix);
        else // the name is near the limit: a short one in the same folder
            n = snprintf(tmp, cap, "%.*s.kvscope.tmp-%s", (int)dir_len, path, suffix);
        if (n < 0 || (size_t)n >= cap || (size_t)n >= TEMP_PATH_MAX) {
            kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path, strerror(ENAMETOOLONG));
            return -1;
        }
        // signals wait while the file is created and registered: no moment where it exists
        // and a signal would not remove it
        sigset_t block, old;
        temp_block(&block, &old);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        int slot = fd >= 0 ? temp_register(tmp) : -1;
        int e = errno;
        if (fd >= 0 && slot < 0) { // more live temporaries than slots: refuse, not leak
            close(fd);
            unlink(tmp);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (fd >= 0 && slot < 0) {
            kv_error(err, KV_ERR_RUNTIME, "%s: cannot write: too many files at once", path);
            return -1;
        }
        if (fd >= 0)
            return fd;
        if (e != EEXIST) {
            kv_error(err, write_errno_status(e), "%s: cannot write: %s", path, strerror(e));
            return -1;
        }
    }
    kv_error(err, KV_ERR_RUNTIME, "%s: cannot write: no free temporary name", path);
    return -1;
}

KvStatus kv_temp_commit(const char *tmp, const char *path, KvError *err) {
    if (rename(tmp, path) != 0) {
        int e = errno;
        kv_temp_forget(tmp, true);
        return kv_error(err, write_errno_status(e), "%s: cannot write: %s", path, strerror(e));
    }
    kv_temp_forget(tmp, false);
    return KV_OK;
}

KvStatus kv_write_all(int fd, const void *data, size_t n, const char *what, KvError *err) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return kv_error(err, KV_ERR_RUNTIME, "%s: %s", what,
                            w < 0 ? strerror(errno) : strerror(ENOSPC));
        p += w;
        n -= (size_t)w;
    }
    return KV_OK;
}

KvStatus kv_write_file_atomic(const char *path, const void *data, size_t n, KvError *err) {
    char tmp[TEMP_PATH_MAX];
    int fd = kv_temp_create(path, tmp, sizeof tmp, err);
    if (fd < 0)
        return err ? err->code : KV_ERR_INPUT;
    KvStatus st = kv_write_all(fd, data, n, path, err);
    if (close(fd) != 0 && !st)
        st = kv_error(err, KV_ERR_RUNTIME, "%s: %s", path, strerror(errno));
    if (st) {
        kv_temp_forget(tmp, true);
        return st;
    }
    return kv_temp_commit(tmp, path, err);
}

// ----------------------------------------------------------------------------------------------
// Numbers for people: one formatter for the picture, captions, messages and the terminal

typedef struct {
    double base;               // 1000 or 1024 per prefix step
    const char *const *prefix; // "" first
    int n_prefix;
    const char *sep; // between the number and prefix + unit
    bool trim;       // drop trailing zeros after the decimal point
} NumberStyle;

static const char *const num_si[] = {"", "k", "M", "G", "T", "P", "E"};
static const char *const num_binary[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
static const char *const num_count[] = {"", "k", "M", "B"};
static const char *const num_plain[] = {""};

static const NumberStyle styles[KV_NUM_STYLES] = {
    [KV_NUM_SI] = {1000, num_si, 7, " ", false},
    [KV_NUM_SI_SHORT] = {1000, num_si, 7, " ", true},
    [KV_NUM_BYTES] = {1024, num_binary, 6, " ", true},
    [KV_NUM_COUNT] = {1000, num_count, 4, "", true},
    [KV_NUM_PLAIN] = {1000, num_plain, 1, "", true},
};

void kv_format_number(char *out, size_t cap, double v, KvNumberStyle style, const char *unit) {
    if (cap == 0)
        return;
    const NumberStyle *st = &styles[(unsigned)style < KV_NUM_STYLES ? style : KV_NUM_SI];
    if (!unit)
        unit = "";
    if (!isfinite(v)) {
        snprintf(out, cap, "%s%s%s",
                 isnan(v) ? "?"
                 : v > 0  ? "\xe2\x88\x9e"
                          : "-\xe2\x88\x9e",
                 st->sep, unit);
        return;
    }
    // Scale while the number would round to the next prefix's 1 (999.7 k is "1 M", not
    // "1000 k"; for bytes 1023.6 KiB is "1 MiB", not "1024 KiB").
    double a = fabs(v);
    int k = 0;
    while (a >= st->base - 0.5 && k + 1 < st->n_prefix) {
        a /= st->base;
        v /= st->base;
        k++;
    }
    char num[48];
    if (k == 0 && a == floor(a))
        snprintf(num, sizeof num, "%.0f", v);
    else
        snprintf(num, sizeof num, "%.*f", a >= 99.95 ? 0 : a >= 9.995 ? 1 : 2, v);
    char *dot = strchr(num, '.');
    if (st->trim && dot) {
        char *e = num + strlen(num) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
    snprintf(out, cap, "%s%s%s%s", num, st->sep, st->prefix[k], unit);
}

void kv_format_bytes(char *out, size_t cap, uint64_t bytes) {
    kv_format_number(out, cap, (double)bytes, KV_NUM_BYTES, "B");
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
