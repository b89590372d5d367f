// fuzz_targets.c — every file or text a user can hand kvscope, as one function of raw bytes:
// the input must either load (and then work) or be refused with KV_ERR_INPUT and a message.
// Shared by the deterministic mutation tests in test_fuzz.c and the libFuzzer harness in
// tests/fuzz (`make fuzz`).
#define _GNU_SOURCE // memfd_create
#include "fuzz_targets.h"

#include "lesson/lesson.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// The bytes as a file with a path (an anonymous memory file; nothing touches the disk).
static int as_file(const uint8_t *data, size_t n, char path[64]) {
    int fd = memfd_create("kvscope-fuzz", 0);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

static FuzzVerdict verdict(KvStatus st, const KvError *err) {
    if (st == KV_OK)
        return FUZZ_ACCEPTED;
    if (st == KV_ERR_INPUT && err->msg[0] != '\0')
        return FUZZ_REFUSED;
    return FUZZ_BAD;
}

FuzzVerdict fuzz_model(const uint8_t *data, size_t n) {
    char path[64];
    int fd = as_file(data, n, path);
    if (fd < 0)
        return FUZZ_BAD;
    Model m;
    KvError err = {0};
    KvStatus st = model_load(&m, path, &err);
    close(fd);
    if (st == KV_OK) { // an accepted model must run: two positions, both modes
        Engine e;
        int toks[2] = {TOKEN_BOS, m.cfg.vocab_size - 1};
        if (engine_init(&e, &m, &err) == KV_OK) {
            int len = m.cfg.seq_len < 2 ? 1 : 2;
            engine_step(&e, toks, len, CACHE_MODE_ON, NULL, NULL);
            engine_step(&e, toks, len, CACHE_MODE_OFF, NULL, NULL);
            engine_free(&e);
        }
        model_free(&m);
    }
    return verdict(st, &err);
}

FuzzVerdict fuzz_tokenizer(const uint8_t *data, size_t n, int vocab_size) {
    char path[64];
    int fd = as_file(data, n, path);
    if (fd < 0)
        return FUZZ_BAD;
    Tokenizer t;
    KvError err = {0};
    KvStatus st = tokenizer_load(&t, path, vocab_size, &err);
    close(fd);
    if (st == KV_OK) { // an accepted tokenizer must encode and decode
        int ids[64], k = 0;
        KvError e2;
        if (tokenizer_encode(&t, "Once upon a time, caf\xc3\xa9 \xf0\x9f\x99\x82", true, false, ids,
                             64, &k, &e2) == KV_OK) {
            for (int i = 1; i < k; i++) {
                char bb[2];
                size_t len;
                (void)tokenizer_decode(&t, ids[i - 1], ids[i], bb, &len);
            }
        }
        tokenizer_free(&t);
    }
    return verdict(st, &err);
}

FuzzVerdict fuzz_prompt(const Tokenizer *t, const uint8_t *data, size_t n) {
    char *text = malloc(n + 1);
    memcpy(text, data, n);
    text[n] = '\0'; // a prompt is a C string: it ends at the first NUL
    int cap = (int)n + 3, k = 0;
    int *ids = malloc((size_t)cap * sizeof(int));
    KvError err = {0};
    KvStatus st = tokenizer_encode(t, text, true, false, ids, cap, &k, &err);
    if (st == KV_OK) {
        for (int i = 0; i < k; i++)
            if (ids[i] < 0 || ids[i] >= t->vocab_size)
                st = KV_ERR_RUNTIME; // an id outside the vocabulary is a bug
    }
    free(ids);
    free(text);
    return st == KV_ERR_RUNTIME ? FUZZ_BAD : verdict(st, &err);
}

FuzzVerdict fuzz_lesson(const uint8_t *data, size_t n) {
    static const Preset presets[] = {
        {"narrative", "Once upon a time"}, {"code", "def f(x):"}, {"fact", "The capital"}, {0}};
    Lesson l;
    KvError err = {0};
    KvStatus st = lesson_parse(&l, "fuzz.lesson", (const char *)data, n, presets, &err);
    if (st == KV_OK)
        lesson_free(&l);
    else if (strncmp(err.msg, "fuzz.lesson", 11) != 0) // every message names the file
        return FUZZ_BAD;
    return verdict(st, &err);
}

// ----------------------------------------------------------------------------------------------
// A model run through the sampler

typedef struct {
    const uint8_t *p;
    size_t n, at;
} Bytes;

static uint32_t take(Bytes *b, int k) { // k bytes, little-endian; zeros past the end
    uint32_t v = 0;
    for (int i = 0; i < k; i++, b->at++)
        v |= (uint32_t)(b->at < b->n ? b->p[b->at] : 0) << (8 * i);
    return v;
}

static float take_float(Bytes *b) {
    uint32_t u = take(b, 4);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static FuzzVerdict check_step(const Session *s) {
    const StepRecord *r = session_last(s);
    const int V = s->model->cfg.vocab_size;
    if (!r || r->token_id < 0 || r->token_id >= V)
        return FUZZ_BAD;
    for (int i = 0; i < V; i++)
        if (!isfinite(s->eng.logits[i]))
            return FUZZ_BAD; // the forward pass must have stopped on this
    for (int i = 0; i < r->n_top; i++)
        if (!(r->top[i].prob >= 0.0f && r->top[i].prob <= 1.0f) || r->top[i].id < 0 ||
            r->top[i].id >= V)
            return FUZZ_BAD;
    return FUZZ_ACCEPTED;
}

FuzzVerdict fuzz_run(const uint8_t *data, size_t n) {
    Bytes b = {data, n, 0};
    ModelConfig c = {0};
    const int hs = 2 * (1 + (int)(take(&b, 1) % 4));
    c.n_heads = 1 + (int)(take(&b, 1) % 4);
    static const int divisors[5][3] = {{0}, {1, 1, 1}, {1, 2, 2}, {1, 3, 3}, {1, 2, 4}};
    c.n_kv_heads = divisors[c.n_heads][take(&b, 1) % 3];
    c.dim = hs * c.n_heads;
    c.hidden_dim = 1 + (int)(take(&b, 1) % 48);
    c.n_layers = 1 + (int)(take(&b, 1) % 3);
    c.vocab_size = 3 + (int)(take(&b, 1) % 62);
    c.seq_len = 1 + (int)(take(&b, 1) % 24);
    c.shared_classifier = take(&b, 1) & 1;
    const float gain = powf(10.0f, (float)((int)(take(&b, 1) % 81) - 40)); // 0 .. inf
    uint64_t seed = take(&b, 4) | 1;
    const size_t W = config_weight_count(&c), rope = (size_t)c.seq_len * (size_t)hs;
    const size_t cls = c.shared_classifier ? 0 : (size_t)c.vocab_size * (size_t)c.dim;
    float *w = malloc(W * sizeof(float));
    tu_random_fill(&c, seed, 1.0f, w);
    for (size_t i = 0; i < W; i++)
        w[i] *= gain;
    for (int k = (int)(take(&b, 1) % 9); k > 0; k--) { // raw floats anywhere
        size_t at = take(&b, 4) % W;
        w[at] = take_float(&b);
    }
    // the checkpoint file: header, weights before the RoPE tables, the tables, the classifier
    size_t bytes = 28 + 4 * (W + rope);
    unsigned char *file = calloc(1, bytes);
    int32_t h[7] = {c.dim,     c.hidden_dim, c.n_layers,
                    c.n_heads, c.n_kv_heads, c.shared_classifier ? c.vocab_size : -c.vocab_size,
                    c.seq_len};
    memcpy(file, h, sizeof h);
    memcpy(file + 28, w, (W - cls) * sizeof(float));
    memcpy(file + 28 + 4 * (W - cls + rope), w + (W - cls), cls * sizeof(float));
    free(w);
    char path[64];
    int fd = as_file(file, bytes, path);
    free(file);
    if (fd < 0)
        return FUZZ_BAD;
    Model m;
    KvError err = {0};
    KvStatus st = model_load(&m, path, &err);
    close(fd);
    if (st)
        return verdict(st, &err); // non-finite weights are refused with a message

    SamplerSettings ss;
    float t = fabsf(take_float(&b));
    ss.temperature = isfinite(t) ? t : 1e-40f; // any finite temperature, tiny ones included
    uint32_t p = take(&b, 2);
    ss.top_p = p == 0 ? 0.0f : p == 0xffff ? 1.0f : (float)p / 65535.0f;
    ss.top_k = (int)(take(&b, 1) % (uint32_t)(c.vocab_size + 3));
    ss.seed = (uint64_t)take(&b, 4) << 32 | take(&b, 4);
    Tokenizer none = {0}; // the session borrows it only to show text, which this does not ask
    Session s;
    FuzzVerdict v = FUZZ_ACCEPTED;
    if (session_init(&s, &m, &none, &err) != KV_OK) {
        model_free(&m);
        return FUZZ_BAD;
    }
    session_set_sampler(&s, ss);
    session_set_mode(&s, take(&b, 1) & 1 ? CACHE_MODE_OFF : CACHE_MODE_ON);
    for (int k = 0; k < 12 && v == FUZZ_ACCEPTED; k++) {
        uint32_t op = take(&b, 1) % 12;
        if (op < 6) {
            if (session_step(&s)) {
                v = check_step(&s);
            } else if (!session_at_limit(&s)) { // only an overflow may stop a step early
                KvError fe = {0};
                v = session_fault(&s, &fe) == KV_ERR_INPUT && strstr(fe.msg, "non-finite")
                        ? FUZZ_REFUSED
                        : FUZZ_BAD;
            }
        } else if (op == 6) {
            session_back(&s);
        } else if (op == 7) {
            session_set_mode(&s, s.mode == CACHE_MODE_ON ? CACHE_MODE_OFF : CACHE_MODE_ON);
        } else if (op == 8) {
            session_reset(&s);
        } else if (op == 9) {
            session_set_verify(&s, !s.verify);
        } else {
            ss.temperature = (float)(take(&b, 1) % 5) * 0.5f;
            ss.top_k = (int)(take(&b, 1) % 4);
            session_set_sampler(&s, ss);
        }
    }
    session_free(&s);
    model_free(&m);
    return v;
}

// ----------------------------------------------------------------------------------------------
// The lesson player

FuzzVerdict fuzz_player(const uint8_t *data, size_t n) {
    static Model m;
    static Tokenizer t;
    static bool ready;
    if (!ready) { // one small model and its tokenizer for every input
        KvError e;
        ModelConfig c = tu_config(16, 32, 2, 2, 1, 400, 32, true);
        if (tu_model_random(&m, &c, 11, &e) || tu_tokenizer(&t, 400, &e))
            return FUZZ_BAD;
        ready = true;
    }
    static const Preset presets[] = {
        {"narrative", "Once upon a time"}, {"code", "def f(x):"}, {"fact", "The capital"}, {0}};
    Lesson l;
    KvError err = {0};
    KvStatus st = lesson_parse(&l, "fuzz.lesson", (const char *)data, n, presets, &err);
    if (st)
        return verdict(st, &err);
    FuzzVerdict v = FUZZ_ACCEPTED;
    LessonCost cost;
    st = lesson_check(&l, &m, &t, &err);
    if (st) {
        v = verdict(st, &err);
    } else if (lesson_cost(&l, &m, &t, &cost, &err) != KV_OK) {
        v = FUZZ_BAD; // a checked lesson's prompts encode
    } else if (cost.positions <= FUZZ_PLAYER_MAX_POSITIONS && l.n_beats > 0) {
        Session s;
        if (session_init(&s, &m, &t, &err)) {
            lesson_free(&l);
            return FUZZ_BAD;
        }
        LessonPlayer p;
        lesson_player_init(&p, &l, &s);
        View view;
        view_init(&view);
        for (int k = 0; k < l.n_beats && v == FUZZ_ACCEPTED; k++) {
            if (lesson_player_goto(&p, k, &err))
                v = FUZZ_BAD; // lesson_check promised every beat plays
            lesson_player_view(&p, &view);
        }
        // and back: to the first beat and to one in the middle (a replay from the start)
        if (v == FUZZ_ACCEPTED &&
            (lesson_player_goto(&p, 0, &err) || lesson_player_goto(&p, l.n_beats / 2, &err)))
            v = FUZZ_BAD;
        session_free(&s);
    }
    lesson_free(&l);
    return v;
}
