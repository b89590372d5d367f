// eval.c — what the shipped model can do, measured through the engine's own forward pass
// (src/engine), so the numbers describe the model kvscope shows, not the trainer's copy of it:
//
//   loss       validation loss in nats/token from the trainer's batched forward and from the
//              engine's cached decode over the same windows (two code paths, one model)
//   presets    greedy continuations of DESIGN.md's three presets, with their pass criteria
//   copy       40 prompts with names and identifiers the generator never produces, whose right
//              continuation repeats something from the prompt: the greedy copy rate
//   heads      the strongest previous-token head and induction head (attention weights from the
//              engine's prefill), scored on the presets and on a repeated random sequence
//
// Output: one line per figure, `eval <what> key=value ...`. What it does not do: training.
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

// ----------------------------------------------------------------------------------------------
// Greedy generation through the engine

void eval_greedy(Engine *e, const Tokenizer *t, const char *prompt, int n_new, StrBuf *out,
                 int *n_prompt_out) {
    const ModelConfig *c = &e->model->cfg;
    int cap = c->seq_len;
    int *tok = kv_malloc((size_t)cap * sizeof(int));
    int n = 0;
    KvError err;
    if (tokenizer_encode(t, prompt, true, false, tok, cap, &n, &err) != KV_OK || n < 1) {
        free(tok);
        return;
    }
    if (n_prompt_out)
        *n_prompt_out = n;
    kvcache_clear(&e->cache);
    for (int i = 0; i < n_new && n < cap; i++) {
        engine_step(e, tok, n, CACHE_MODE_ON, NULL, NULL);
        int best = 0;
        for (int v = 1; v < c->vocab_size; v++)
            if (e->logits[v] > e->logits[best])
                best = v;
        char bb[2];
        size_t len;
        const char *piece = tokenizer_decode(t, tok[n - 1], best, bb, &len);
        sb_putn(out, piece, len);
        tok[n++] = best;
    }
    if (!out->p)
        sb_puts(out, "");
    free(tok);
}

static void escape(const char *s, char *out, size_t cap) {
    size_t k = 0;
    for (; *s && k + 3 < cap; s++) {
        if (*s == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else if (*s == '"') {
            out[k++] = '\\';
            out[k++] = '"';
        } else {
            out[k++] = *s;
        }
    }
    out[k] = 0;
}

// ----------------------------------------------------------------------------------------------
// Loss through both code paths

// Mean cross-entropy of windows of `len` tokens from the stream: trainer forward and engine
// decode (cache on, one position at a time, logits of every position).
static void eval_loss(const Model *m, const int *stream, size_t n_stream, int windows, int len,
                      double *trainer_loss, double *engine_loss) {
    Net net;
    net_init(&net, &m->cfg, 1, len);
    Engine e;
    KvError err;
    engine_init(&e, m, &err);
    engine_set_instrument(&e, false);
    double st = 0, se = 0;
    size_t span = n_stream - (size_t)len - 1;
    for (int w = 0; w < windows; w++) {
        const int *win = stream + span * (size_t)w / (size_t)(windows > 1 ? windows - 1 : 1);
        st += net_forward(&net, &m->w, win, win + 1);
        kvcache_clear(&e.cache);
        double l = 0;
        for (int p = 1; p <= len; p++) {
            engine_step(&e, win, p, CACHE_MODE_ON, NULL, NULL);
            const float *lg = e.logits;
            float mx = lg[0];
            for (int v = 1; v < m->cfg.vocab_size; v++)
                mx = lg[v] > mx ? lg[v] : mx;
            double sum = 0;
            for (int v = 0; v < m->cfg.vocab_size; v++)
                sum += exp((double)(lg[v] - mx));
            l += log(sum) + mx - lg[win[p]];
        }
        se += l / len;
    }
    *trainer_loss = st / windows;
    *engine_loss = se / windows;
    engine_free(&e);
    net_free(&net);
}

// ----------------------------------------------------------------------------------------------
// Copy generalisation: names and identifiers outside the generator's alphabet (it never uses
// q, x, j or w in invented names, see corpus.c), checked against the corpus too.

typedef struct {
    const char *prompt, *expect, *novel;
} CopyCase;

// Two sets from the same prompts. The "hard" set's names and identifiers use q, x, j or w, letters
// the generator never puts in an invented name, so their tokens never stood in a name's place in
// training. The main set swaps every such name for one made of ordinary letters (fair_names
// below) that occurs nowhere in the training corpus (eval and a test check that): the model
// cannot have memorised it, it can only copy it.
static const CopyCase copy_cases[] = {
    {"Once upon a time, in a small village, there lived a girl named Quorbina. Every morning,",
     " Quorbina", "Quorbina"},
    {"Once upon a time, in a big forest, there lived a boy named Jexwald. Every day,", " Jexwald",
     "Jexwald"},
    {"Once upon a time, in a quiet town, there lived a princess named Wuxley. Every morning,",
     " Wuxley", "Wuxley"},
    {"Once upon a time, there was a knight named Zaquon who lived in a snowy valley. Every "
     "evening,",
     " Zaquon", "Zaquon"},
    {"Long ago, in a sunny garden, there lived a fairy called Xilvra. Every morning,", " Xilvra",
     "Xilvra"},
    {"Once upon a time, in a green meadow, there lived a farmer named Jombrix. Every day,",
     " Jombrix", "Jombrix"},
    {"Once upon a time, in a small kingdom, there lived a queen named Qelwyn. Every morning,",
     " Qelwyn", "Qelwyn"},
    {"Once upon a time, in a dark forest, there lived a wizard named Vexwin. Every morning,",
     " Vexwin", "Vexwin"},
    {"Once upon a time, in a busy city, there lived a painter named Jaxtor. Every day, Jaxtor drew "
     "pictures of the sky. Every morning,",
     " Jaxtor", "Jaxtor"},
    {"Once upon a time, in a tiny island, there lived a mermaid named Wiqua. Every morning, Wiqua "
     "swam in the lake. Every day,",
     " Wiqua", "Wiqua"},
    {"One day, Tom met a little fox named Oxbelle. \"Hello,", " Oxbelle", "Oxbelle"},
    {"On the way, Lily met a friendly owl called Quilliam. \"What is your name?\" asked "
     "Lily.\n\"My name is",
     " Quilliam", "Quilliam"},
    {"Then Sam met a rabbit named Jowzer. \"Hello, Jowzer,\" said Sam. \"Will you help "
     "me?\"\nJowzer smiled and said, \"Yes,",
     " Sam", "Jowzer"},
    {"Soon Mia saw a bird. The bird's name was Twixel. \"Can we be friends?\" asked", " Twixel",
     "Twixel"},
    {"Once upon a time, in a quiet village, there lived a girl named Brixwald. Every morning, "
     "Brixwald picked flowers in the meadow. Brixwald loved the quiet village. One day, while she "
     "was playing,",
     " Brixwald", "Brixwald"},
    {"Once upon a time, in a faraway land, there lived a prince named Quenjy. Every morning,",
     " Quenjy", "Quenjy"},
    {"Once upon a time, in a magic castle, there lived a little girl named Woxana. Every day,",
     " Woxana", "Woxana"},
    {"Once upon a time, in a peaceful farm, there lived a boy named Quazzo. Every morning,",
     " Quazzo", "Quazzo"},
    {"Then Jowbin met a duck called Nell. \"Hello, Nell,\" said", " Jowbin", "Jowbin"},
    {"Once upon a time, in a happy house, there lived a baker named Xandrique. Every morning,",
     " Xandrique", "Xandrique"},
    {"def scale(qux_width, jaxval):\n    return qux_width *", " jaxval", "jaxval"},
    {"def mix(wexo, xorbit):\n    result = wexo +", " xorbit", "xorbit"},
    {"def get_total(jorq):\n    print(jorq)\n    return", " jorq", "jorq"},
    {"def check(quolp, wivvix):\n    if quolp > wivvix:\n        return", " quolp", "quolp"},
    {"def add(xtal_total, jimjam_len):\n    return xtal_total +", " jimjam_len", "jimjam_len"},
    {"def area(wqlen, hxq):\n    return wqlen *", " hxq", "hxq"},
    {"def compute_cost(jubwax, taxq):\n    return jubwax *", " taxq", "taxq"},
    {"def measure(zwixo):\n    if zwixo > 0:\n        return", " zwixo", "zwixo"},
    {"def speed(qdist, wtime):\n    return qdist /", " wtime", "wtime"},
    {"def update_score(xjpoints, jqbonus):\n    xjpoints = xjpoints +", " jqbonus", "jqbonus"},
    {"def total(wuxitems):\n    total = 0\n    for item in", " wuxitems", "wuxitems"},
    {"def get_area(jaxside):\n    return jaxside *", " jaxside", "jaxside"},
    {"def find_max(qwa, qwb):\n    if qwa > qwb:\n        return qwa\n    return", " qwb", "qwb"},
    {"def split(xenodata, jaxparts):\n    result = xenodata /", " jaxparts", "jaxparts"},
    {"def calc_tax(wprice, jrate):\n    total = wprice *", " jrate", "jrate"},
    {"def join(quix, wobble):\n    return quix +", " wobble", "wobble"},
    {"def move(xpos, jstep):\n    xpos = xpos +", " jstep", "jstep"},
    {"def build(qlen_a, wlen_b, jlen_c):\n    return qlen_a * wlen_b *", " jlen_c", "jlen_c"},
    {"def apply(jexfactor, quvalue):\n    result = jexfactor * quvalue\n    return", " result",
     "jexfactor"},
    {"def mix_total(woxa, jixb):\n    total = woxa * jixb\n    print(", "total", "woxa"},
};

#define N_COPY (int)(sizeof copy_cases / sizeof copy_cases[0])

static const char *const fair_names[][2] = {
    {"Quorbina", "Talimbor"},
    {"Jexwald", "Brenvika"},
    {"Wuxley", "Dorumest"},
    {"Zaquon", "Fendalor"},
    {"Xilvra", "Gostrima"},
    {"Jombrix", "Hembrula"},
    {"Qelwyn", "Kastovin"},
    {"Vexwin", "Lumbreda"},
    {"Jaxtor", "Mordavik"},
    {"Wiqua", "Nesrubal"},
    {"Oxbelle", "Pelgrana"},
    {"Quilliam", "Rostembi"},
    {"Jowzer", "Sulvadrin"},
    {"Twixel", "Tembrosk"},
    {"Brixwald", "Vardelin"},
    {"Quenjy", "Zolmerik"},
    {"Woxana", "Belstano"},
    {"Quazzo", "Crandove"},
    {"Jowbin", "Dulmaris"},
    {"Xandrique", "Fenstoka"},
    {"qux_width", "rumbel_width"},
    {"jaxval", "kostavel"},
    {"wexo", "delmorin"},
    {"xorbit", "fantorel"},
    {"jorq", "gilboran"},
    {"quolp", "hasternu"},
    {"wivvix", "lumvikor"},
    {"xtal_total", "saltor_total"},
    {"jimjam_len", "tembalo_len"},
    {"wqlen", "vormikal"},
    {"hxq", "zandelor"},
    {"jubwax", "brontalo"},
    {"taxq", "cremsina"},
    {"zwixo", "dulvasir"},
    {"qdist", "felmorad"},
    {"wtime", "gorvinta"},
    {"xjpoints", "hembrikas"},
    {"jqbonus", "kalborin"},
    {"wuxitems", "norbelis"},
    {"jaxside", "pendrikas"},
    {"qwa", "sumbalo"},
    {"qwb", "sumbeli"},
    {"xenodata", "trelgasom"},
    {"jaxparts", "vistelan"},
    {"wprice", "bardomir"},
    {"jrate", "corlinav"},
    {"quix", "dembrano"},
    {"wobble", "fistorel"},
    {"xpos", "garmelon"},
    {"jstep", "holdinak"},
    {"qlen_a", "kelbor_a"},
    {"wlen_b", "kelbor_b"},
    {"jlen_c", "kelbor_c"},
    {"jexfactor", "lastrumin"},
    {"quvalue", "mendoral"},
    {"woxa", "nistalo"},
    {"jixb", "pombrel"}
};

// in with every hard name replaced by its ordinary-letter twin (longest match first).
static void fair_text(const char *in, char *out, size_t cap) {
    size_t k = 0;
    while (*in && k + 1 < cap) {
        int best = -1;
        size_t blen = 0;
        for (size_t i = 0; i < sizeof fair_names / sizeof fair_names[0]; i++) {
            size_t n = strlen(fair_names[i][0]);
            if (n > blen && strncmp(in, fair_names[i][0], n) == 0) {
                best = (int)i;
                blen = n;
            }
        }
        if (best >= 0) {
            for (const char *r = fair_names[best][1]; *r && k + 1 < cap; r++)
                out[k++] = *r;
            in += blen;
        } else {
            out[k++] = *in++;
        }
    }
    out[k] = 0;
}

const char *eval_copy_name_found(const char *text) {
    for (int i = 0; i < N_COPY; i++)
        if (strstr(text, copy_cases[i].novel))
            return copy_cases[i].novel;
    for (size_t i = 0; i < sizeof fair_names / sizeof fair_names[0]; i++)
        if (strstr(text, fair_names[i][1]))
            return fair_names[i][1];
    return NULL;
}

static bool ident_char(char c) {
    return isalnum((unsigned char)c) || c == '_';
}

// Greedy-continues each case and checks the continuation starts with the expected text (and the
// word ends there). Returns the number correct; prints each case when verbose.
int eval_copy(Engine *e, const Tokenizer *t, bool hard, bool verbose, int *n_cases) {
    int ok = 0;
    for (int i = 0; i < N_COPY; i++) {
        StrBuf out = {0};
        char prompt[512], expect[64];
        if (hard) {
            snprintf(prompt, sizeof prompt, "%s", copy_cases[i].prompt);
            snprintf(expect, sizeof expect, "%s", copy_cases[i].expect);
        } else {
            fair_text(copy_cases[i].prompt, prompt, sizeof prompt);
            fair_text(copy_cases[i].expect, expect, sizeof expect);
        }
        eval_greedy(e, t, prompt, 8, &out, NULL);
        size_t el = strlen(expect);
        bool pass = out.n >= el && memcmp(out.p, expect, el) == 0 &&
                    (out.n == el || !ident_char(out.p[el]));
        ok += pass;
        if (verbose) {
            char a[256], b[64];
            escape(out.p, a, sizeof a);
            escape(expect, b, sizeof b);
            printf("eval copy set=%s case=%d pass=%d expect=\"%s\" got=\"%s\"\n",
                   hard ? "hard" : "main", i, pass, b, a);
        }
        sb_free(&out);
    }
    *n_cases = N_COPY;
    return ok;
}

// ----------------------------------------------------------------------------------------------
// Heads

// Scores every (layer, head) on one token sequence from the engine's prefill attention:
// prev[l*H+h] = mean over t >= 1 of a(t, t-1); ind[l*H+h] = mean, over positions t whose token
// occurred before at j < t-1 (the latest such j), of a(t, j+1). Returns the number of induction
// positions.
static int head_scores(Engine *e, const int *tok, int n, double *prev, double *ind) {
    const ModelConfig *c = &e->model->cfg;
    int L = c->n_layers, H = c->n_heads;
    AttnSink sink = {kv_calloc((size_t)L * H * n * n, sizeof(float)), 0, n, n};
    kvcache_clear(&e->cache);
    engine_set_instrument(e, true);
    engine_step(e, tok, n, CACHE_MODE_ON, &sink, NULL);
    int n_ind = 0;
    for (int lh = 0; lh < L * H; lh++) {
        const float *A = sink.w + (size_t)lh * n * n;
        double sp = 0, si = 0;
        int ni = 0;
        for (int t = 1; t < n; t++) {
            sp += A[(size_t)t * n + t - 1];
            int j = -1;
            for (int s = t - 2; s >= 0 && j < 0; s--)
                if (tok[s] == tok[t])
                    j = s;
            if (j >= 0) {
                si += A[(size_t)t * n + j + 1];
                ni++;
            }
        }
        prev[lh] = sp / (n - 1);
        ind[lh] = ni ? si / ni : 0;
        n_ind = ni;
    }
    free(sink.w);
    return n_ind;
}

static const char *const presets[3][2] = {
    {"narrative", "Once upon a time, in a small kingdom, there lived a princess named Mia. Every "
                  "morning, Mia"},
    {"code", "def area(width, height):\n    return width *"},
    {"fact", "The capital of France is"},
};

static void eval_heads(Engine *e, const Tokenizer *t) {
    const ModelConfig *c = &e->model->cfg;
    int LH = c->n_layers * c->n_heads;
    double *prev = kv_calloc((size_t)LH, sizeof(double)),
           *ind = kv_calloc((size_t)LH, sizeof(double));
    double *p_sum = kv_calloc((size_t)LH, sizeof(double)),
           *i_sum = kv_calloc((size_t)LH, sizeof(double));
    int tok[512], n;
    KvError err;
    int with_rep = 0;
    // the presets, each continued greedily by 40 tokens so names and parameters recur
    for (int p = 0; p < 3; p++) {
        StrBuf out = {0};
        eval_greedy(e, t, presets[p][1], 40, &out, NULL);
        StrBuf full = {0};
        sb_puts(&full, presets[p][1]);
        sb_puts(&full, out.p);
        tokenizer_encode(t, full.p, true, false, tok, 512, &n, &err);
        int ni = head_scores(e, tok, n, prev, ind);
        for (int i = 0; i < LH; i++) {
            p_sum[i] += prev[i];
            if (ni) {
                i_sum[i] += ind[i];
            }
        }
        with_rep += ni > 0;
        sb_free(&out);
        sb_free(&full);
    }
    int bp = 0, bi = 0;
    for (int i = 1; i < LH; i++) {
        if (p_sum[i] > p_sum[bp])
            bp = i;
        if (i_sum[i] > i_sum[bi])
            bi = i;
    }
    printf("eval heads on=presets previous_token_layer=%d previous_token_head=%d score=%.3f\n",
           bp / c->n_heads, bp % c->n_heads, p_sum[bp] / 3);
    printf("eval heads on=presets induction_layer=%d induction_head=%d score=%.3f\n",
           bi / c->n_heads, bi % c->n_heads, with_rep ? i_sum[bi] / with_rep : 0.0);
    // a random token sequence repeated: the classic induction probe
    uint64_t s = trng_seed(77);
    int half = c->seq_len - 1 < 200 ? (c->seq_len - 1) / 2 : 100;
    tok[0] = TOKEN_BOS;
    for (int i = 0; i < half; i++)
        tok[1 + i] = tok[1 + half + i] = 259 + (int)trng_below(&s, (uint32_t)(c->vocab_size - 259));
    n = 1 + 2 * half;
    head_scores(e, tok, n, prev, ind);
    int rp = 0, ri = 0;
    for (int i = 1; i < LH; i++) {
        if (prev[i] > prev[rp])
            rp = i;
        if (ind[i] > ind[ri])
            ri = i;
    }
    printf("eval heads on=repeated_random previous_token_layer=%d previous_token_head=%d "
           "score=%.3f\n",
           rp / c->n_heads, rp % c->n_heads, prev[rp]);
    printf("eval heads on=repeated_random induction_layer=%d induction_head=%d score=%.3f\n",
           ri / c->n_heads, ri % c->n_heads, ind[ri]);
    printf("eval heads table "
           "layer,head,prev_presets,induction_presets,prev_random,induction_random\n");
    for (int i = 0; i < LH; i++)
        printf("eval heads row %d,%d,%.3f,%.3f,%.3f,%.3f\n", i / c->n_heads, i % c->n_heads,
               p_sum[i] / 3, with_rep ? i_sum[i] / with_rep : 0.0, prev[i], ind[i]);
    free(prev);
    free(ind);
    free(p_sum);
    free(i_sum);
}

// ----------------------------------------------------------------------------------------------
// The whole report

KvStatus eval_run(const char *model_path, const char *tok_path, const char *valid_path,
                  const char *corpus_path, KvError *err) {
    Model m;
    KvStatus st = model_load(&m, model_path, err);
    if (st != KV_OK)
        return st;
    Tokenizer t;
    st = tokenizer_load(&t, tok_path, m.cfg.vocab_size, err);
    if (st != KV_OK) {
        model_free(&m);
        return st;
    }
    Engine e;
    st = engine_init(&e, &m, err);
    if (st != KV_OK)
        goto out_tok;
    printf("eval model path=%s params=%zu dim=%d layers=%d heads=%d kv_heads=%d hidden=%d "
           "vocab=%d seq_len=%d\n",
           model_path, config_param_count(&m.cfg), m.cfg.dim, m.cfg.n_layers, m.cfg.n_heads,
           m.cfg.n_kv_heads, m.cfg.hidden_dim, m.cfg.vocab_size, m.cfg.seq_len);
    if (valid_path) {
        Bpe b;
        st = bpe_from_tokenizer(&b, &t, err);
        if (st != KV_OK)
            goto out;
        char *text;
        size_t len;
        st = read_whole_file(valid_path, &text, &len, err);
        if (st != KV_OK) {
            bpe_free(&b);
            goto out;
        }
        char **docs;
        size_t nd = corpus_split(text, len, &docs);
        int *stream;
        size_t ns = encode_stream(&b, docs, nd, &stream);
        double lt, le;
        int windows = 8, wl = m.cfg.seq_len < 512 ? m.cfg.seq_len : 512;
        eval_loss(&m, stream, ns, windows, wl, &lt, &le);
        printf("eval loss windows=%d len=%d trainer_nats=%.4f engine_nats=%.4f rel_diff=%.2e\n",
               windows, wl, lt, le, fabs(lt - le) / le);
        free(stream);
        free(docs);
        free(text);
        bpe_free(&b);
    }
    engine_set_instrument(&e, false);
    for (int p = 0; p < 3; p++) {
        StrBuf out = {0};
        eval_greedy(&e, &t, presets[p][1], 24, &out, NULL);
        char a[512];
        escape(out.p, a, sizeof a);
        bool pass;
        if (p == 0)
            pass = strstr(out.p, "Mia") != NULL;
        else if (p == 1)
            pass = strncmp(out.p, " height", 7) == 0;
        else
            pass = strncmp(out.p, " Paris", 6) == 0;
        printf("eval preset name=%s pass=%d continuation=\"%s\"\n", presets[p][0], pass, a);
        sb_free(&out);
    }
    if (corpus_path) { // the copy cases' names must be absent from the training text
        char *text;
        size_t len;
        st = read_whole_file(corpus_path, &text, &len, err);
        if (st != KV_OK)
            goto out;
        const char *found = eval_copy_name_found(text);
        printf("eval copy corpus=%s novel_name_found=%s\n", corpus_path, found ? found : "none");
        free(text);
    }
    int nc;
    int ok = eval_copy(&e, &t, false, true, &nc);
    int okh = eval_copy(&e, &t, true, true, &nc);
    printf("eval copy set=main correct=%d cases=%d rate=%.3f\n", ok, nc, (double)ok / nc);
    printf("eval copy set=hard correct=%d cases=%d rate=%.3f\n", okh, nc, (double)okh / nc);
    eval_heads(&e, &t);
out:
    engine_free(&e);
out_tok:
    tokenizer_free(&t);
    model_free(&m);
    return st;
}
