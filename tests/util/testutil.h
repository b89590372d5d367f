// testutil.h — helpers shared by every test: temporary directories, files, SHA-256, checkpoint
// and tokenizer writers (the golden README's rule and generic random shapes), llama2.c's
// generation loop as a reference, and running the kvscope binary.
//
// The helpers return status instead of asserting, so each test decides what a failure means.
// Everything they return that is "owned" is freed by the caller with free() unless a matching
// tu_*_free says otherwise.
#ifndef KVSCOPE_TESTUTIL_H
#define KVSCOPE_TESTUTIL_H

#include "engine/engine.h"
#include "sim/sim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------------------------
// Files and temporary directories

// A fresh directory under /tmp (owned path; remove it with tu_rmtree, which also frees it).
char *tu_tmpdir(void);
void tu_rmtree(char *dir);
// dir + "/" + name (owned).
char *tu_join(const char *dir, const char *name);
// Whole file (owned, NUL-terminated past *n), NULL when it cannot be read.
unsigned char *tu_read_file(const char *path, size_t *n);
bool tu_write_file(const char *path, const void *data, size_t n);
// tests/data/<name> (owned). KVSCOPE_TESTDATA overrides the directory; the default is
// tests/data relative to the working directory (`make check` runs from the repository root).
char *tu_data_path(const char *name);

// ----------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), ours

void tu_sha256(const void *data, size_t n, uint8_t out[32]);
void tu_sha256_hex(const void *data, size_t n, char hex[65]);
// Hex digest of a file; false when it cannot be read.
bool tu_sha256_file(const char *path, char hex[65]);
// The expected digest of `name` from tests/data/SHA256SUMS; false when not listed.
bool tu_expected_sha256(const char *name, char hex[65]);

// ----------------------------------------------------------------------------------------------
// Checkpoints

// The shape of ../shared/golden's a_shared.bin / a_unshared.bin.
ModelConfig tu_golden_config(bool shared);
// Fills data (config_weight_count floats, file order) by the golden README's rule: one
// xorshift64* stream seeded with 1, one draw per element in file order, the scales, then the
// post-draw edits (so that BOS is never sampled).
void tu_golden_fill(const ModelConfig *c, float *data);
// Generic random weights of any shape: a stream seeded with `seed`; matrices uniform with
// variance gain^2 / fan_in, embedding and classifier unit variance, RMSNorm weights 1 +- 0.2.
void tu_random_fill(const ModelConfig *c, uint64_t seed, float gain, float *data);
// Writes data (config_weight_count floats, file order) through the engine's model_write.
KvStatus tu_write_checkpoint(const char *path, const ModelConfig *c, float *data, KvError *err);
// Writes a random checkpoint (tu_random_fill) to path.
KvStatus tu_write_random_checkpoint(const char *path, const ModelConfig *c, uint64_t seed,
                                    KvError *err);
// A random model in memory, written and loaded back through the engine (model_free it).
KvStatus tu_model_random(Model *m, const ModelConfig *c, uint64_t seed, KvError *err);
// The golden model regenerated, written and loaded (model_free it).
KvStatus tu_model_golden(Model *m, bool shared, KvError *err);
// A ModelConfig in one line.
ModelConfig tu_config(int dim, int hidden, int layers, int heads, int kv_heads, int vocab,
                      int seq_len, bool shared);

// ----------------------------------------------------------------------------------------------
// Tokenizers

// The pieces and scores of a tokenizer of `vocab` entries laid out as tok512.bin is
// (vocab >= 354): <unk>, BOS, EOS, <0x00>..<0xFF>, vocab-354 two-letter merges (" a".." z",
// "aa".."az", "ba"..), the 95 printable ASCII characters; score of id i is min(0, 259 - i).
// pieces[i] points into a static table or into buf (64 bytes per entry; caller-owned).
void tu_tok_pieces(int vocab, const char **pieces, float *scores, char *buf);
// That tokenizer, built in memory through tokenizer_build (tokenizer_free it).
KvStatus tu_tokenizer(Tokenizer *t, int vocab, KvError *err);

// What most suites start from: a random model of shape c (seed), the tokenizer above with
// c->vocab_size entries, and a session over them. tu_session_close frees all three.
KvStatus tu_session_open(Model *m, Tokenizer *t, Session *s, const ModelConfig *c, uint64_t seed,
                         KvError *err);
void tu_session_close(Model *m, Tokenizer *t, Session *s);
// Writes that tokenizer to path through tokenizer_write.
KvStatus tu_write_tokenizer(const char *path, int vocab, KvError *err);
// A fresh temporary directory holding model.bin (tu_write_random_checkpoint of shape cfg, seed
// 5) and tok.bin (tu_write_tokenizer with cfg.vocab_size entries), for the command-line tests.
typedef struct {
    char *dir;
    char *model;
    char *tok;
    ModelConfig cfg;
} TuFiles;
KvStatus tu_files_new(TuFiles *f, ModelConfig cfg, KvError *err);
void tu_files_free(TuFiles *f);

// ----------------------------------------------------------------------------------------------
// References

// Generates exactly as llama2.c's run.c `generate` does (commit 350e04fe): encode with BOS,
// forward one token per position with the KV cache, follow the prompt, then sample; stop when
// pos reaches `steps` or BOS is sampled; print each piece through decode + safe_printf; newline
// at the end. Returns what run.c prints to stdout (owned). When ids is not NULL it receives the
// whole token sequence (owned) and *n_ids its length; *n_prompt (if not NULL) the prompt's.
char *tu_runc_generate(const Model *m, const Tokenizer *t, SamplerSettings ss, const char *prompt,
                       int steps, int **ids, int *n_ids, int *n_prompt);
// run.c's safe_printf of one piece, appended to a growing string.
typedef struct {
    char *s;
    size_t len, cap;
} TuBuf;
void tu_buf_add(TuBuf *b, const char *s, size_t n);
void tu_safe_print(TuBuf *b, const char *piece, size_t len);

// Teacher-forced token at position p of the golden logits: 1 at 0, (p*7919 + 13) % 512 after.
int tu_golden_token(int p);

// The FLOPs of DESIGN.md's closed form, written out here independently of flops_formula.
void tu_flops(const ModelConfig *c, int pos0, int n, int logits, uint64_t out[FLOP_COMPONENTS]);

// ----------------------------------------------------------------------------------------------
// Running the binary

typedef struct {
    int status; // exit status, or 128 + signal number when killed
    char *out;  // stdout (owned, NUL-terminated)
    size_t out_len;
    char *err; // stderr (owned, NUL-terminated)
    size_t err_len;
} TuRun;

// $KVSCOPE_BIN, or NULL when unset.
const char *tu_kvscope_bin(void);
// Fills argv with $KVSCOPE_BIN, then args (NULL-terminated, without the program), at most
// cap - 1 entries in all, then NULL; returns how many entries precede the NULL.
int tu_kvscope_argv(char **argv, int cap, const char *const *args);
// Runs argv (argv[0] is the program path, NULL-terminated) with stdin from /dev/null, waiting at
// most timeout_s seconds (killed after). False when it could not be started.
bool tu_run(char *const argv[], int timeout_s, TuRun *r);
// tu_run with a limit on the child's CPU time instead of its wall time (a loaded machine stretches
// the wall time, not the CPU time): killed at cpu_s CPU seconds (status 128 + SIGXCPU or SIGKILL);
// a child that hangs without using the CPU is killed after 30 * cpu_s wall seconds.
bool tu_run_cpu(char *const argv[], int cpu_s, TuRun *r);
void tu_run_free(TuRun *r);
// tu_run of $KVSCOPE_BIN with args (NULL-terminated, without the program); false when
// KVSCOPE_BIN is unset or the program could not be started.
bool tu_run_kvscope(const char *const *args, int timeout_s, TuRun *r);
// True when dir holds a temporary file (a name with ".tmp-", as kv_write_file_atomic and the
// frame and video writers make them).
bool tu_has_temporary(const char *dir);
// What one tu_signal_while_writing run came to.
typedef enum {
    TU_SIGNALLED,    // sig sent while the child was stopped with its temporary in dir
    TU_RAN_OUT,      // the child finished before the signal could land (try again)
    TU_NO_TEMPORARY, // it exited, or 60 s passed, before a temporary appeared
    TU_NOT_STARTED,  // it could not be started
} TuSignalRun;
// Runs argv (argv[0] is the program path) with stdout and stderr to /dev/null and SIGINT,
// SIGTERM and SIGHUP at their default action (whatever this process inherited: a shell without
// job control starts background jobs with SIGINT ignored, which exec keeps), waits for a
// temporary in dir (a condition polled every millisecond, not a time), stops the child, looks
// again while it cannot move and, when the temporary is still there, sends sig while it is
// stopped (delivered first thing when it runs again). *status: the child's wait status at its end.
TuSignalRun tu_signal_while_writing(char *const argv[], const char *dir, int sig, int *status);
// Number of lines in s (a last line without '\n' counts).
int tu_count_lines(const char *s);
// True when text holds a sanitizer's report.
bool tu_has_sanitizer_report(const char *s);

// ----------------------------------------------------------------------------------------------
// Leaks

// Fails the current test when LeakSanitizer finds memory leaked so far in this worker process
// (a no-op without ASan). Every suite runs it as its .fini: Criterion 2.4 ignores what a worker
// reports after its test passed, so without this a leak would go unnoticed.
void tu_leak_check(void);

#endif
