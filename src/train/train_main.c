// train_main.c — kvtrain, the command that builds kvscope's model from nothing:
//
//   kvtrain corpus --seed S --bytes N --train FILE --valid FILE [--variant 0..4]
//   kvtrain bpe    --corpus FILE --vocab V --out tokenizer.bin
//   kvtrain train  --corpus FILE --valid FILE --tokenizer FILE --out model.bin
//                  [--csv FILE] [--png FILE] [--steps N] [--batch B] [--seq T] [--lr X]
//                  [--dim D] [--hidden F] [--layers L] [--heads H] [--kv-heads K] [--seed S]
//                  [--init FILE --step0 N]   continue from a checkpoint, CSV steps from N
//                  [--induct PCT]   that share of batch rows: random token sequences repeated
//                  [--keep N]   also write the model to OUT.<step> every N steps (checkpoints)
//   kvtrain eval   --model FILE --tokenizer FILE --valid FILE [--corpus FILE[,FILE...]]
//                  [--verbose 1]   every figure of README's model section (--verbose: each case)
//   kvtrain kv     --model FILE --tokenizer FILE [--tokens N]   each KV cache precision against
//                  f32, teacher-forced over the first N (2000) tokens of the held-out text
//   kvtrain cache  --model FILE --tokenizer FILE [--tokens N] [--seed S]   the cache policies
//                  loss on N (2000) held-out tokens of the corpus of seed S (2024)
//   kvtrain gqa    --model FILE --kv-heads K --out FILE   a grouped-query copy (mean-pooled k, v)
//   kvtrain bf16   --model FILE --out FILE   matrix weights rounded to bfloat16 (half the bytes)
//   kvtrain bench  matmul GFLOP/s and one training step's time on the shipped shape
//   kvtrain plot   --csv FILE --png FILE
//
// Exit status as kvscope's: 0 success, 1 runtime failure, 2 bad usage or input.
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "train/train.h"

typedef struct {
    const char *train, *valid, *corpus, *out, *tokenizer, *model, *csv, *png, *init;
    long step0, variant, seed, bytes, vocab, steps, batch, seq, dim, hidden, layers, heads,
        kv_heads, threads;
    long warmup, eval_every, induct, verbose, tokens, keep;
    double lr;
} Args;

static int usage(const char *msg) {
    fprintf(stderr,
            "kvtrain: %s\nusage: kvtrain corpus|bpe|train|eval|kv|cache|gqa|bf16|bench|plot "
            "[options] (see src/train/train_main.c)\n",
            msg);
    return 2;
}

static int parse(int argc, char **argv, Args *a) {
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc)
            return usage("option without a value");
        const char *v = argv[++i];
        struct {
            const char *name;
            const char **s;
            long *l;
        } opts[] = {
            {"--train", &a->train, NULL},
            {"--valid", &a->valid, NULL},
            {"--corpus", &a->corpus, NULL},
            {"--out", &a->out, NULL},
            {"--tokenizer", &a->tokenizer, NULL},
            {"--model", &a->model, NULL},
            {"--csv", &a->csv, NULL},
            {"--png", &a->png, NULL},
            {"--init", &a->init, NULL},
            {"--step0", NULL, &a->step0},
            {"--variant", NULL, &a->variant},
            {"--seed", NULL, &a->seed},
            {"--bytes", NULL, &a->bytes},
            {"--vocab", NULL, &a->vocab},
            {"--steps", NULL, &a->steps},
            {"--batch", NULL, &a->batch},
            {"--seq", NULL, &a->seq},
            {"--dim", NULL, &a->dim},
            {"--hidden", NULL, &a->hidden},
            {"--layers", NULL, &a->layers},
            {"--heads", NULL, &a->heads},
            {"--kv-heads", NULL, &a->kv_heads},
            {"--threads", NULL, &a->threads},
            {"--warmup", NULL, &a->warmup},
            {"--eval-every", NULL, &a->eval_every},
            {"--induct", NULL, &a->induct},
            {"--verbose", NULL, &a->verbose},
            {"--tokens", NULL, &a->tokens},
            {"--keep", NULL, &a->keep},
        };
        bool found = false;
        for (size_t o = 0; o < sizeof opts / sizeof opts[0] && !found; o++) {
            if (strcmp(k, opts[o].name) != 0)
                continue;
            found = true;
            if (opts[o].s) {
                *opts[o].s = v;
            } else {
                char *end;
                *opts[o].l = strtol(v, &end, 10);
                if (*end || *opts[o].l < 0)
                    return usage("bad number");
            }
        }
        if (!found && strcmp(k, "--lr") == 0) {
            a->lr = atof(v);
            found = a->lr > 0;
        }
        if (!found) {
            fprintf(stderr, "kvtrain: unknown option %s\n", k);
            return 2;
        }
    }
    return 0;
}

static int fail(const KvError *e) {
    fprintf(stderr, "kvtrain: %s\n", e->msg);
    return e->code ? (int)e->code : 1;
}

// Loads a corpus file and a tokenizer, encodes the documents into one stream.
static KvStatus load_stream(const char *corpus, const Bpe *b, int **tok, size_t *n, KvError *err) {
    char *text;
    size_t len;
    KvStatus st = read_whole_file(corpus, &text, &len, err);
    if (st != KV_OK)
        return st;
    char **docs;
    size_t nd = corpus_split(text, len, &docs);
    *n = encode_stream(b, docs, nd, tok);
    free(docs);
    free(text);
    return KV_OK;
}

static KvStatus load_bpe(const char *path, int vocab, Bpe *b, KvError *err) {
    Tokenizer t;
    KvStatus st = tokenizer_load(&t, path, vocab, err);
    if (st != KV_OK)
        return st;
    st = bpe_from_tokenizer(b, &t, err);
    tokenizer_free(&t);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage("no command");
    Args a = {.seed = 1, .bytes = 6000000, .vocab = 1024, .threads = 0};
    TrainConfig tc;
    train_config_default(&tc);
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc;
    KvError err = {0};
    const char *cmd = argv[1];
#ifdef _OPENMP
    if (a.threads)
        omp_set_num_threads((int)a.threads);
#endif
    if (strcmp(cmd, "corpus") == 0) {
        if (!a.train || !a.valid)
            return usage("corpus needs --train and --valid");
        if (a.variant < 0 || a.variant > 4)
            return usage("--variant must be 0, 1, 2, 3 or 4");
        if (corpus_write(a.train, a.valid, (uint64_t)a.seed, (CorpusVariant)a.variant,
                         (size_t)a.bytes, &err) != KV_OK)
            return fail(&err);
        return 0;
    }
    if (strcmp(cmd, "bpe") == 0) {
        if (!a.corpus || !a.out)
            return usage("bpe needs --corpus and --out");
        char *text;
        size_t len;
        if (read_whole_file(a.corpus, &text, &len, &err) != KV_OK)
            return fail(&err);
        char **docs;
        size_t nd = corpus_split(text, len, &docs);
        Bpe b;
        uint64_t t0 = kv_now_ns();
        if (bpe_train(&b, docs, nd, (int)a.vocab, stderr, &err) != KV_OK)
            return fail(&err);
        fprintf(stderr, "bpe: %d pieces in %.1f s\n", b.vocab_size,
                (double)(kv_now_ns() - t0) * 1e-9);
        KvStatus st = bpe_write(&b, a.out, &err);
        bpe_free(&b);
        free(docs);
        free(text);
        return st == KV_OK ? 0 : fail(&err);
    }
    if (strcmp(cmd, "train") == 0) {
        if (!a.corpus || !a.valid || !a.tokenizer || !a.out)
            return usage("train needs --corpus, --valid, --tokenizer and --out");
        Bpe b;
        if (load_bpe(a.tokenizer, (int)a.vocab, &b, &err) != KV_OK)
            return fail(&err);
        int *tr, *va;
        size_t ntr, nva;
        if (load_stream(a.corpus, &b, &tr, &ntr, &err) != KV_OK ||
            load_stream(a.valid, &b, &va, &nva, &err) != KV_OK)
            return fail(&err);
        bpe_free(&b);
        tc.cfg.vocab_size = (int)a.vocab;
        if (a.dim)
            tc.cfg.dim = (int)a.dim;
        if (a.hidden)
            tc.cfg.hidden_dim = (int)a.hidden;
        if (a.layers)
            tc.cfg.n_layers = (int)a.layers;
        if (a.heads)
            tc.cfg.n_heads = (int)a.heads;
        tc.cfg.n_kv_heads = a.kv_heads ? (int)a.kv_heads : tc.cfg.n_heads;
        if (a.steps)
            tc.steps = (int)a.steps;
        if (a.batch)
            tc.batch = (int)a.batch;
        if (a.seq)
            tc.seq = tc.cfg.seq_len = (int)a.seq;
        if (a.warmup)
            tc.warmup = (int)a.warmup;
        if (a.eval_every)
            tc.eval_every = (int)a.eval_every;
        if (a.lr > 0)
            tc.lr = (float)a.lr, tc.lr_min = (float)a.lr / 10;
        if (a.induct > 100)
            return usage("--induct is a percentage of batch rows (0-100)");
        tc.induct_pct = (int)a.induct;
        tc.keep_every = (int)a.keep;
        tc.seed = (uint64_t)a.seed;
        tc.out_model = a.out;
        tc.out_csv = a.csv;
        tc.out_png = a.png;
        tc.init_model = a.init;
        tc.step0 = (int)a.step0;
        KvStatus st = train_run(&tc, tr, ntr, va, nva, &err);
        free(tr);
        free(va);
        return st == KV_OK ? 0 : fail(&err);
    }
    if (strcmp(cmd, "eval") == 0) {
        if (!a.model || !a.tokenizer)
            return usage("eval needs --model and --tokenizer");
        return eval_run(a.model, a.tokenizer, a.valid, a.corpus, a.verbose != 0, &err) == KV_OK
                   ? 0
                   : fail(&err);
    }
    if (strcmp(cmd, "kv") == 0) {
        if (!a.model || !a.tokenizer)
            return usage("kv needs --model and --tokenizer");
        if (a.tokens > 1000000)
            return usage("--tokens: at most 1000000");
        return kveval_run(a.model, a.tokenizer, a.tokens ? (int)a.tokens : 2000, &err) == KV_OK
                   ? 0
                   : fail(&err);
    }
    if (strcmp(cmd, "cache") == 0) {
        if (!a.model || !a.tokenizer)
            return usage("cache needs --model and --tokenizer");
        const int n = a.tokens ? (int)a.tokens : 2000;
        if (n < 16)
            return usage("cache: --tokens must be at least 16");
        bool seeded = false; // --seed given (the default 1 is the corpus command's)
        for (int i = 2; i < argc; i++)
            seeded = seeded || strcmp(argv[i], "--seed") == 0;
        return cache_eval_run(a.model, a.tokenizer, n, seeded ? (uint64_t)a.seed : 2024, &err)
                   ? fail(&err)
                   : 0;
    }
    if (strcmp(cmd, "gqa") == 0) {
        if (!a.model || !a.out || !a.kv_heads)
            return usage("gqa needs --model, --kv-heads and --out");
        return convert_gqa(a.model, (int)a.kv_heads, a.out, &err) == KV_OK ? 0 : fail(&err);
    }
    if (strcmp(cmd, "bf16") == 0) {
        if (!a.model || !a.out)
            return usage("bf16 needs --model and --out");
        return convert_bf16(a.model, a.out, &err) == KV_OK ? 0 : fail(&err);
    }
    if (strcmp(cmd, "plot") == 0) {
        if (!a.csv || !a.png)
            return usage("plot needs --csv and --png");
        return plot_loss_png(a.csv, a.png, "kvscope training loss", &err) == KV_OK ? 0 : fail(&err);
    }
    if (strcmp(cmd, "bench") == 0) {
        int shapes[][3] = {{2048, 128, 128},
                           {2048, 344, 128},
                           {2048, 1024, 128},
                           {2048, 128, 344},
                           {344, 128, 2048}};
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            printf("bench matmul M=%d N=%d K=%d gflops=%.1f\n", shapes[i][0], shapes[i][1],
                   shapes[i][2], mm_benchmark(shapes[i][0], shapes[i][1], shapes[i][2]));
        // one training step (forward + backward) of the shipped shape
        ModelConfig c = tc.cfg;
        size_t P = config_weight_count(&c);
        float *p = kv_calloc(P, sizeof(float)), *gbuf = kv_calloc(P, sizeof(float));
        ModelWeights w, g;
        weights_carve(&w, &c, p);
        weights_carve(&g, &c, gbuf);
        net_init_weights(&c, &w, 1);
        Net net;
        net_init(&net, &c, tc.batch, tc.seq);
        size_t NT = (size_t)tc.batch * tc.seq;
        int *tok = kv_malloc((NT + 1) * sizeof(int));
        uint64_t s = trng_seed(3);
        for (size_t i = 0; i <= NT; i++)
            tok[i] = (int)trng_below(&s, (uint32_t)c.vocab_size);
        double best = 1e30, bestf = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            uint64_t t0 = kv_now_ns();
            net_forward(&net, &w, tok, tok + 1);
            uint64_t t1 = kv_now_ns();
            net_backward(&net, &w, &g, tok + 1);
            double dt = (double)(kv_now_ns() - t0) * 1e-9, df = (double)(t1 - t0) * 1e-9;
            best = dt < best ? dt : best;
            bestf = df < bestf ? df : bestf;
        }
        // matmul FLOPs of forward (x3 for forward + backward), attention counted the same way
        double D = c.dim, F = c.hidden_dim, V = c.vocab_size, L = c.n_layers, T = tc.seq;
        double fwd =
            2.0 * NT * (L * (4 * D * D + 3 * D * F) + D * V) + L * tc.batch * 2 * D * T * T;
        printf("bench train_step B=%d T=%d fwd_ms=%.1f step_ms=%.1f tok_per_s=%.0f "
               "gflops=%.1f\n",
               tc.batch, tc.seq, bestf * 1e3, best * 1e3, NT / best, 3 * fwd / best * 1e-9);
        net_free(&net);
        free(tok);
        free(p);
        free(gbuf);
        return 0;
    }
    return usage("unknown command");
}
