// files.c — temporary directories, whole-file reads and writes, running the kvscope binary with
// its output captured (posix_spawn, stdout and stderr into files of a temporary directory), and
// a signal sent to it while it writes (stopped as soon as its temporary is seen).
#define _XOPEN_SOURCE 700 // nftw
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

// ----------------------------------------------------------------------------------------------
// Files

char *tu_tmpdir(void) {
    char *dir = strdup("/tmp/kvscope-test-XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void tu_rmtree(char *dir) {
    if (!dir)
        return;
    // Only ever our own directories.
    if (strncmp(dir, "/tmp/kvscope-test-", 18) == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *tu_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

unsigned char *tu_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (n)
        *n = len;
    return buf;
}

bool tu_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

char *tu_data_path(const char *name) {
    const char *dir = getenv("KVSCOPE_TESTDATA");
    return tu_join(dir && *dir ? dir : "tests/data", name);
}

KvStatus tu_files_new(TuFiles *f, ModelConfig cfg, KvError *err) {
    *f = (TuFiles){.dir = tu_tmpdir(), .cfg = cfg};
    if (!f->dir)
        return kv_error(err, KV_ERR_RUNTIME, "/tmp: cannot make a temporary directory");
    f->model = tu_join(f->dir, "model.bin");
    f->tok = tu_join(f->dir, "tok.bin");
    KvStatus st = tu_write_random_checkpoint(f->model, &f->cfg, 5, err);
    return st != KV_OK ? st : tu_write_tokenizer(f->tok, cfg.vocab_size, err);
}

void tu_files_free(TuFiles *f) {
    free(f->model);
    free(f->tok);
    tu_rmtree(f->dir);
    *f = (TuFiles){0};
}

// ----------------------------------------------------------------------------------------------
// Running the binary

const char *tu_kvscope_bin(void) {
    const char *p = getenv("KVSCOPE_BIN");
    return p && *p ? p : NULL;
}

int tu_kvscope_argv(char **argv, int cap, const char *const *args) {
    int n = 0;
    argv[n++] = (char *)tu_kvscope_bin();
    for (int i = 0; args[i] && n < cap - 1; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return n;
}

// Starts argv with stdin from /dev/null and stdout, stderr into out_path, err_path. With cpu_s > 0
// the child runs under RLIMIT_CPU (SIGXCPU at cpu_s CPU seconds, SIGKILL a second later): fork,
// then only async-signal-safe calls until the exec.
static bool spawn(char *const argv[], const char *out_path, const char *err_path, int cpu_s,
                  pid_t *pid) {
    if (cpu_s <= 0) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int rc = posix_spawn(pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        return rc == 0;
    }
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = in >= 0 && out >= 0 && err >= 0 && (*pid = fork()) >= 0;
    if (ok && *pid == 0) {
        struct rlimit lim = {(rlim_t)cpu_s, (rlim_t)cpu_s + 1};
        if (setrlimit(RLIMIT_CPU, &lim) == 0 && dup2(in, 0) == 0 && dup2(out, 1) == 1 &&
            dup2(err, 2) == 2)
            execve(argv[0], argv, environ);
        _exit(127);
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (err >= 0)
        close(err);
    return ok;
}

static bool run(char *const argv[], int wall_s, int cpu_s, TuRun *r) {
    memset(r, 0, sizeof *r);
    char *dir = tu_tmpdir();
    if (!dir)
        return false;
    char *out_path = tu_join(dir, "stdout"), *err_path = tu_join(dir, "stderr");
    pid_t pid;
    bool ok = spawn(argv, out_path, err_path, cpu_s, &pid);
    if (ok) {
        int st = 0;
        struct timespec nap = {0, 2 * 1000 * 1000};
        uint64_t deadline = kv_now_ns() + (uint64_t)wall_s * 1000000000ull;
        for (;;) {
            pid_t w = waitpid(pid, &st, WNOHANG);
            if (w == pid)
                break;
            if (w < 0 && errno != EINTR) {
                ok = false;
                break;
            }
            if (kv_now_ns() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
                break;
            }
            nanosleep(&nap, NULL);
        }
        r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        r->out = (char *)tu_read_file(out_path, &r->out_len);
        r->err = (char *)tu_read_file(err_path, &r->err_len);
        if (!r->out)
            r->out = calloc(1, 1);
        if (!r->err)
            r->err = calloc(1, 1);
    }
    free(out_path);
    free(err_path);
    tu_rmtree(dir);
    return ok;
}

bool tu_run(char *const argv[], int timeout_s, TuRun *r) {
    return run(argv, timeout_s, 0, r);
}

bool tu_run_cpu(char *const argv[], int cpu_s, TuRun *r) {
    // the wall deadline only ends a child that hangs without using the CPU
    return run(argv, 30 * cpu_s, cpu_s, r);
}

bool tu_run_kvscope(const char *const *args, int timeout_s, TuRun *r) {
    char *argv[64];
    tu_kvscope_argv(argv, 64, args);
    if (!argv[0]) {
        memset(r, 0, sizeof *r);
        return false;
    }
    return tu_run(argv, timeout_s, r);
}

void tu_run_free(TuRun *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

bool tu_has_temporary(const char *dir) {
    bool seen = false;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && !seen && (e = readdir(d));)
        seen = strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return seen;
}

TuSignalRun tu_signal_while_writing(char *const argv[], const char *dir, int sig, int *status) {
    *status = 0;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGINT), sigaddset(&def, SIGTERM), sigaddset(&def, SIGHUP);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return TU_NOT_STARTED;
    bool seen = false;
    for (int k = 0; k < 60000 && !seen; k++) {
        seen = tu_has_temporary(dir);
        if (!seen && waitpid(pid, status, WNOHANG) == pid)
            return TU_NO_TEMPORARY;
        if (!seen)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    if (!seen) {
        kill(pid, SIGKILL);
        waitpid(pid, status, 0);
        return TU_NO_TEMPORARY;
    }
    kill(pid, SIGSTOP);
    if (waitpid(pid, status, WUNTRACED) != pid || !WIFSTOPPED(*status))
        return TU_RAN_OUT;                        // it finished between the sighting and the stop
    const bool signalled = tu_has_temporary(dir); // false: its temporary became the output
    if (signalled)
        kill(pid, sig); // pending while stopped
    kill(pid, SIGCONT);
    waitpid(pid, status, 0);
    return signalled ? TU_SIGNALLED : TU_RAN_OUT;
}

int tu_count_lines(const char *s) {
    int n = 0;
    const char *p = s;
    for (; *p; p++)
        if (*p == '\n')
            n++;
    if (p > s && p[-1] != '\n')
        n++;
    return n;
}

bool tu_has_sanitizer_report(const char *s) {
    return strstr(s, "AddressSanitizer") || strstr(s, "LeakSanitizer") ||
           strstr(s, "UndefinedBehaviorSanitizer") || strstr(s, "runtime error:");
}

// ----------------------------------------------------------------------------------------------
// Leaks

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
void tu_leak_check(void) {
    if (__lsan_do_recoverable_leak_check() != 0) {
        fprintf(stderr, "kvscope-tests: memory leaked during this test (report above)\n");
        abort();
    }
}
#else
void tu_leak_check(void) {}
#endif
