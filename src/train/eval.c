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

#include "sim/sim.h"
#include "train/train.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

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

static const char *const fair_names[][2] = {{"Quorbina", "Talimbor"},
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
                                            {"jixb", "pombrel"}};

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

static bool ident_char(char c) { // a byte of a name or identifier (UTF-8 letters too)
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
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
// The issue-16 targets: unseen names (from eval's reserved share of the name space, which the
// corpus generator rejects), induction on repeated random tokens, held-out facts and functions,
// pronouns, verbatim loops.

// An unseen name: corpus_any_name drawn until the string is reserved for evaluation (so no corpus
// contains it), is no fixed pool word and has at least three bytes.
static void unseen_name(uint64_t *rng, int syllables, bool capital, char *out, size_t cap) {
    do {
        corpus_any_name(rng, syllables, capital, out, cap);
    } while (!corpus_reserved(out) || corpus_pool_word(out) || strlen(out) < 3);
}

// Greedy continuation as token ids: tok holds the prompt (with BOS) and then up to n_new tokens;
// returns the total count.
static int greedy_tokens(Engine *e, const Tokenizer *t, const char *prompt, int n_new, int *tok,
                         int cap, int *n_prompt) {
    const ModelConfig *c = &e->model->cfg;
    int n = 0;
    KvError err;
    if (cap > c->seq_len)
        cap = c->seq_len;
    if (tokenizer_encode(t, prompt, true, false, tok, cap, &n, &err) != KV_OK || n < 1)
        return 0;
    *n_prompt = n;
    kvcache_clear(&e->cache);
    for (int i = 0; i < n_new && n < cap; i++) {
        engine_step(e, tok, n, CACHE_MODE_ON, NULL, NULL);
        int best = 0;
        for (int v = 1; v < c->vocab_size; v++)
            if (e->logits[v] > e->logits[best])
                best = v;
        tok[n++] = best;
    }
    return n;
}

static const char *const eval_girl_roles[] = {"princess", "queen", "girl",
                                              "fairy",    "witch", "mermaid"};
static const char *const eval_boy_roles[] = {"prince", "king",   "boy",
                                             "knight", "wizard", "fisherman"};
static const char *const eval_places[] = {"small village", "big forest",   "quiet town",
                                          "sunny garden",  "green meadow", "dark forest",
                                          "tiny island",   "magic castle"};
static const char *const eval_fns[] = {"shift", "scale",  "mix",   "get_total", "compute",
                                       "blend", "update", "merge", "apply",     "combine"};

static bool starts_word(const char *out, const char *expect) {
    size_t el = strlen(expect);
    return strlen(out) >= el && memcmp(out, expect, el) == 0 && !ident_char(out[el]);
}

// Function case i's parameters (1-3, distinct); returns their count.
static int function_names(uint64_t *rng, int i, char p[3][48]) {
    int np = 1 + i % 3;
    for (int k = 0; k < np; k++)
        do {
            unseen_name(rng, 1 + (int)trng_below(rng, 3), false, p[k], 48);
        } while ((k > 0 && strcmp(p[k], p[0]) == 0) || (k > 1 && strcmp(p[k], p[1]) == 0));
    return np;
}

// The three unseen names of copy case i (a is the one copied in stories; syllables 1-4 in turn).
static void case_names(uint64_t *rng, int i, bool code, char a[48], char b[48], char c[48]) {
    unseen_name(rng, 1 + i % 4, !code, a, 48);
    unseen_name(rng, 1 + (i / 4) % 4, !code, b, 48);
    unseen_name(rng, 1 + (i / 16) % 4, !code, c, 48);
}

EvalCount eval_copy_unseen(Engine *e, const Tokenizer *t, bool code, int n_cases, bool verbose) {
    EvalCount r = {0, 0};
    uint64_t rng = trng_seed(code ? 1602 : 1601);
    for (int i = 0; i < n_cases; i++) {
        char a[48], b[48], c[48], prompt[600], expect[64];
        int syl = 1 + i % 4;
        case_names(&rng, i, code, a, b, c);
        const char *fn = eval_fns[i % COUNT_OF(eval_fns)];
        const char *role = i % 2 ? eval_girl_roles[i / 2 % COUNT_OF(eval_girl_roles)]
                                 : eval_boy_roles[i / 2 % COUNT_OF(eval_boy_roles)];
        const char *place = eval_places[i % COUNT_OF(eval_places)];
        if (!code) {
            switch (i % 7) {
            case 0:
                snprintf(prompt, sizeof prompt,
                         "Once upon a time, in a %s, there lived a %s named %s. Every morning,",
                         place, role, a);
                break;
            case 1:
                snprintf(prompt, sizeof prompt,
                         "Long ago, in a %s, there lived a %s called %s. Every day,", place, role,
                         a);
                break;
            case 2:
                snprintf(prompt, sizeof prompt, "One day, Tom met a little fox named %s. \"Hello,",
                         a);
                break;
            case 3:
                snprintf(prompt, sizeof prompt,
                         "On the way, Lily met a friendly owl called %s. \"What is your name?\" "
                         "asked Lily.\n\"My name is",
                         a);
                break;
            case 4:
                snprintf(prompt, sizeof prompt,
                         "Soon Mia saw a bird. The bird's name was %s. \"Can we be friends?\" "
                         "asked",
                         a);
                break;
            case 5:
                snprintf(prompt, sizeof prompt,
                         "In the class there were %s, %s and %s. The teacher called their names:",
                         a, b, c);
                break;
            default:
                snprintf(prompt, sizeof prompt,
                         "There once was a %s named %s. %s lived in a %s. Every day,", role, a,
                         i % 2 ? "She" : "He", place);
                break;
            }
        } else {
            switch (i % 6) {
            case 0:
                snprintf(prompt, sizeof prompt, "def %s(%s, %s):\n    return %s *", fn, a, b, a);
                snprintf(c, sizeof c, "%s", b);
                break;
            case 1:
                snprintf(prompt, sizeof prompt, "def %s(%s):\n    print(%s)\n    return", fn, a, a);
                snprintf(c, sizeof c, "%s", a);
                break;
            case 2:
                snprintf(prompt, sizeof prompt, "def %s(%s, %s):\n    if %s > %s:\n        return",
                         fn, a, b, a, b);
                snprintf(c, sizeof c, "%s", a);
                break;
            case 3:
                snprintf(prompt, sizeof prompt, "def %s(%s, %s, %s):\n    return %s * %s *", fn, a,
                         b, c, a, b);
                break;
            case 4:
                snprintf(prompt, sizeof prompt, "def %s(%s, %s):\n    result = %s +", fn, a, b, a);
                snprintf(c, sizeof c, "%s", b);
                break;
            default:
                snprintf(prompt, sizeof prompt, "def %s(%s, %s): return %s +", fn, a, b, a);
                snprintf(c, sizeof c, "%s", b);
                break;
            }
        }
        snprintf(expect, sizeof expect, " %s", code ? c : a);
        StrBuf out = {0};
        eval_greedy(e, t, prompt, 12, &out, NULL);
        bool pass = starts_word(out.p, expect);
        r.ok += pass;
        r.n++;
        if (verbose) {
            char x[256], y[96];
            escape(out.p, x, sizeof x);
            escape(expect, y, sizeof y);
            printf(
                "eval copy set=unseen_%s case=%d syllables=%d pass=%d expect=\"%s\" got=\"%s\"\n",
                code ? "code" : "story", i, syl, pass, y, x);
        }
        sb_free(&out);
    }
    return r;
}

void eval_unseen_example(char *out, size_t cap) {
    uint64_t rng = trng_seed(1601);
    char a[48], b[48], c[48];
    case_names(&rng, 0, false, a, b, c);
    snprintf(out, cap, "%s", a);
}

static bool word_in(const char *text, const char *w) {
    size_t n = strlen(w);
    for (const char *p = strstr(text, w); p; p = strstr(p + 1, w))
        if ((p == text || !ident_char(p[-1])) && !ident_char(p[n]))
            return true;
    return false;
}

// Every unseen name of the copy, function and pronoun sets, replayed from their seeds.
bool eval_unseen_names_found(const char *text, char *found, size_t cap) {
    char names[3][48];
    for (int code = 0; code < 2; code++) {
        uint64_t rng = trng_seed(code ? 1602 : 1601);
        for (int i = 0; i < EVAL_UNSEEN_CASES; i++) {
            case_names(&rng, i, code, names[0], names[1], names[2]);
            for (int k = 0; k < 3; k++)
                if (word_in(text, names[k])) {
                    snprintf(found, cap, "%s", names[k]);
                    return true;
                }
        }
    }
    uint64_t rng = trng_seed(1603);
    for (int i = 0; i < EVAL_FUNCTION_CASES; i++) {
        int np = function_names(&rng, i, names);
        for (int k = 0; k < np; k++)
            if (word_in(text, names[k])) {
                snprintf(found, cap, "%s", names[k]);
                return true;
            }
    }
    rng = trng_seed(1604);
    for (int i = 0; i < EVAL_PRONOUN_CASES; i++) {
        unseen_name(&rng, 1 + i / 2 % 4, true, names[0], 48);
        if (word_in(text, names[0])) {
            snprintf(found, cap, "%s", names[0]);
            return true;
        }
    }
    return false;
}

double eval_induction_top1(Engine *e, int trials, int len) {
    const ModelConfig *c = &e->model->cfg;
    if (2 * len + 1 > c->seq_len)
        len = (c->seq_len - 1) / 2;
    int *tok = kv_malloc((size_t)(2 * len + 1) * sizeof(int));
    int ok = 0, n = 0;
    for (int k = 0; k < trials; k++) {
        uint64_t rng = trng_seed(500 + (uint64_t)k);
        tok[0] = TOKEN_BOS;
        for (int i = 0; i < len; i++)
            tok[1 + i] = tok[1 + len + i] =
                259 + (int)trng_below(&rng, (uint32_t)(c->vocab_size - 259));
        kvcache_clear(&e->cache);
        for (int p = 1; p < 2 * len + 1; p++) {
            engine_step(e, tok, p, CACHE_MODE_ON, NULL, NULL);
            if (p < len + 2) // predicting the second copy's first token is not copying
                continue;
            int best = 0;
            for (int v = 1; v < c->vocab_size; v++)
                if (e->logits[v] > e->logits[best])
                    best = v;
            ok += best == tok[p];
            n++;
        }
    }
    free(tok);
    return n ? (double)ok / n : 0;
}

float eval_induction_head(Engine *e, int *layer, int *head) {
    const ModelConfig *c = &e->model->cfg;
    int NH = c->n_layers * c->n_heads;
    int half = 64 < (c->seq_len - 1) / 2 ? 64 : (c->seq_len - 1) / 2;
    int *tok = kv_malloc((size_t)(2 * half + 1) * sizeof(int));
    HeadScore *sc = kv_malloc((size_t)NH * sizeof(HeadScore));
    // the probe of `kvscope info --heads` (src/app/cmd_info.c): BOS, 64 random non-byte pieces
    // drawn by kv_rng_u32 from seed 1234, the same again; scored by the same heads_score
    uint64_t rng = 1234;
    int lo = c->vocab_size > 259 + 16 ? 259 : 3;
    tok[0] = TOKEN_BOS;
    for (int i = 0; i < half; i++)
        tok[1 + i] = tok[1 + half + i] =
            lo + (int)(kv_rng_u32(&rng) % (uint32_t)(c->vocab_size - lo));
    heads_score(e, tok, 1 + 2 * half, sc);
    int best = 0;
    for (int i = 1; i < NH; i++)
        if (sc[i].induction > sc[best].induction)
            best = i;
    float v = sc[best].induction;
    *layer = best / c->n_heads;
    *head = best % c->n_heads;
    free(tok);
    free(sc);
    return v;
}

EvalCount eval_facts(Engine *e, const Tokenizer *t, EvalCount per_kind[CORPUS_QA_KINDS],
                     bool verbose) {
    CorpusQA *qa;
    int n = corpus_heldout_questions(&qa);
    EvalCount r = {0, 0};
    for (int k = 0; k < CORPUS_QA_KINDS; k++)
        per_kind[k] = (EvalCount){0, 0};
    for (int i = 0; i < n; i++) {
        StrBuf out = {0};
        // long enough for the longest answer in bytes (" Buenos Aires." is 14 tokens at worst)
        eval_greedy(e, t, qa[i].prompt, 16, &out, NULL);
        bool pass = strncmp(out.p, qa[i].expect, strlen(qa[i].expect)) == 0;
        r.ok += pass;
        r.n++;
        per_kind[qa[i].kind].ok += pass;
        per_kind[qa[i].kind].n++;
        if (verbose) {
            char x[256], y[256], z[64];
            escape(qa[i].prompt, y, sizeof y);
            escape(out.p, x, sizeof x);
            escape(qa[i].expect, z, sizeof z);
            printf("eval facts kind=%d pass=%d prompt=\"%s\" expect=\"%s\" got=\"%s\"\n",
                   qa[i].kind, pass, y, z, x);
        }
        sb_free(&out);
    }
    free(qa);
    return r;
}

// Does the body use exactly the parameters (each at least once, no other name)?
static bool body_uses_params(const char *body, char p[][48], int np) {
    static const char *const known[] = {"return", "if",    "else", "for", "in", "print",
                                        "result", "total", "item", "and", "or", "not"};
    bool used[3] = {false, false, false};
    for (const char *q = body; *q;) {
        if (!ident_char(*q)) {
            q++;
            continue;
        }
        const char *s0 = q;
        while (*q && ident_char(*q))
            q++;
        size_t len = (size_t)(q - s0);
        if (isdigit((unsigned char)*s0))
            continue;
        bool ok = false;
        for (int i = 0; i < np; i++)
            if (strlen(p[i]) == len && memcmp(p[i], s0, len) == 0)
                used[i] = ok = true;
        for (size_t k = 0; k < COUNT_OF(known) && !ok; k++)
            ok = strlen(known[k]) == len && memcmp(known[k], s0, len) == 0;
        if (!ok)
            return false;
    }
    for (int i = 0; i < np; i++)
        if (!used[i])
            return false;
    return true;
}

EvalCount eval_functions(Engine *e, const Tokenizer *t, int n_cases, bool verbose) {
    EvalCount r = {0, 0};
    uint64_t rng = trng_seed(1603);
    for (int i = 0; i < n_cases; i++) {
        char p[3][48], prompt[400];
        int np = function_names(&rng, i, p);
        int at = snprintf(prompt, sizeof prompt, "def %s(", eval_fns[i % COUNT_OF(eval_fns)]);
        for (int k = 0; k < np; k++)
            at += snprintf(prompt + at, sizeof prompt - (size_t)at, "%s%s", k ? ", " : "", p[k]);
        snprintf(prompt + at, sizeof prompt - (size_t)at, "):\n");
        StrBuf out = {0};
        eval_greedy(e, t, prompt, 40, &out, NULL);
        // the body: up to the first line that is not indented
        char body[400];
        size_t k = 0;
        for (const char *q = out.p; *q && k + 1 < sizeof body; q++) {
            if (q[0] == '\n' && q[1] != ' ')
                break;
            body[k++] = *q;
        }
        body[k] = 0;
        bool pass = k > 0 && body_uses_params(body, p, np);
        r.ok += pass;
        r.n++;
        if (verbose) {
            char x[512], y[512];
            escape(prompt, y, sizeof y);
            escape(body, x, sizeof x);
            printf("eval functions case=%d params=%d pass=%d prompt=\"%s\" body=\"%s\"\n", i, np,
                   pass, y, x);
        }
        sb_free(&out);
    }
    return r;
}

// Counts he/him/his and she/her (whole words, either case) in text.
static void count_pronouns(const char *text, int *male, int *female) {
    static const char *const m[] = {"he", "him", "his", "himself"},
                             *f[] = {"she", "her", "hers", "herself"};
    for (const char *q = text; *q;) {
        if (!isalpha((unsigned char)*q)) {
            q++;
            continue;
        }
        const char *s0 = q;
        while (isalpha((unsigned char)*q))
            q++;
        char w[16];
        size_t len = (size_t)(q - s0);
        if (len >= sizeof w)
            continue;
        for (size_t i = 0; i < len; i++)
            w[i] = (char)tolower((unsigned char)s0[i]);
        w[len] = 0;
        for (size_t i = 0; i < 4; i++) {
            *male += strcmp(w, m[i]) == 0;
            *female += strcmp(w, f[i]) == 0;
        }
    }
}

EvalCount eval_pronouns(Engine *e, const Tokenizer *t, int n_cases, int *right, int *wrong,
                        bool verbose) {
    EvalCount r = {0, 0};
    *right = *wrong = 0;
    uint64_t rng = trng_seed(1604);
    for (int i = 0; i < n_cases; i++) {
        bool girl = i % 2 == 0;
        char name[48], prompt[300];
        unseen_name(&rng, 1 + i / 2 % 4, true, name, sizeof name);
        const char *role = girl ? eval_girl_roles[i / 2 % COUNT_OF(eval_girl_roles)]
                                : eval_boy_roles[i / 2 % COUNT_OF(eval_boy_roles)];
        // ends where the corpus puts the hero's pronoun next ("while she was playing")
        snprintf(prompt, sizeof prompt,
                 "Once upon a time, in a %s, there lived a %s named %s. Every morning, %s sang a "
                 "song to the birds. One day, while",
                 eval_places[i % COUNT_OF(eval_places)], role, name, name);
        StrBuf out = {0};
        eval_greedy(e, t, prompt, 120, &out, NULL);
        // the story only: up to where a new document would begin
        static const char *const stops[] = {"Once upon", "There once", "Long ago",
                                            "Q:",        "def ",       "The end"};
        for (size_t k = 0; k < COUNT_OF(stops); k++) {
            char *q = strstr(out.p, stops[k]);
            if (q)
                *q = 0;
        }
        int m = 0, f = 0;
        count_pronouns(out.p, &m, &f);
        int ok = girl ? f : m, bad = girl ? m : f;
        *right += ok;
        *wrong += bad;
        r.ok += bad == 0;
        r.n++;
        if (verbose) {
            char x[2048];
            escape(out.p, x, sizeof x);
            printf("eval pronouns case=%d role=%s name=%s right=%d wrong=%d text=\"%s\"\n", i, role,
                   name, ok, bad, x);
        }
        sb_free(&out);
    }
    return r;
}

double eval_loops(Engine *e, const Tokenizer *t, const char *prompt, int n_new, int ngram) {
    int cap = e->model->cfg.seq_len, np = 0;
    int *tok = kv_malloc((size_t)cap * sizeof(int));
    int n = greedy_tokens(e, t, prompt, n_new, tok, cap, &np);
    int rep = 0, total = 0;
    for (int i = np; i + ngram <= n; i++) {
        bool seen = false;
        for (int j = 1; j < i && !seen; j++) // j >= 1: not from BOS
            seen = memcmp(tok + j, tok + i, (size_t)ngram * sizeof(int)) == 0;
        rep += seen;
        total++;
    }
    free(tok);
    return total ? (double)rep / total : 0;
}

// All of the above as `eval ...` lines.
static void eval_targets(Engine *e, const Tokenizer *t, bool verbose) {
    e->instrument = false;
    EvalCount st = eval_copy_unseen(e, t, false, EVAL_UNSEEN_CASES, verbose);
    EvalCount cd = eval_copy_unseen(e, t, true, EVAL_UNSEEN_CASES, verbose);
    printf("eval copy set=unseen stories=%d/%d code=%d/%d correct=%d cases=%d rate=%.3f\n", st.ok,
           st.n, cd.ok, cd.n, st.ok + cd.ok, st.n + cd.n, (double)(st.ok + cd.ok) / (st.n + cd.n));
    double top1 = eval_induction_top1(e, 20, 50);
    int hl, hh;
    float hs = eval_induction_head(e, &hl, &hh);
    e->instrument = false;
    printf("eval induction repeated_random len=50 trials=20 top1=%.3f best_head_layer=%d "
           "best_head=%d head_score=%.3f (the kvscope info --heads probe; layers and heads "
           "counted from 1 there)\n",
           top1, hl + 1, hh + 1, (double)hs);
    EvalCount per[CORPUS_QA_KINDS];
    EvalCount fa = eval_facts(e, t, per, verbose);
    static const char *const kinds[CORPUS_QA_KINDS] = {
        "capital", "capital_yes_no", "animal_yes_no", "legs", "plus", "science_yes_no"};
    printf("eval facts held_out correct=%d cases=%d rate=%.3f", fa.ok, fa.n,
           fa.n ? (double)fa.ok / fa.n : 0);
    for (int k = 0; k < CORPUS_QA_KINDS; k++)
        printf(" %s=%d/%d", kinds[k], per[k].ok, per[k].n);
    printf("\n");
    EvalCount fn = eval_functions(e, t, EVAL_FUNCTION_CASES, verbose);
    printf("eval functions held_out uses_exactly_its_parameters=%d cases=%d rate=%.3f\n", fn.ok,
           fn.n, (double)fn.ok / fn.n);
    int right, wrong;
    EvalCount pr = eval_pronouns(e, t, EVAL_PRONOUN_CASES, &right, &wrong, verbose);
    printf("eval pronouns stories_consistent=%d stories=%d rate=%.3f pronouns_right=%d "
           "pronouns_wrong=%d\n",
           pr.ok, pr.n, (double)pr.ok / pr.n, right, wrong);
    double sum = 0;
    for (int p = 0; p < 3; p++) {
        double l = eval_loops(e, t, presets[p][1], 200, 8);
        sum += l;
        printf("eval loops preset=%s tokens=200 repeated_8grams=%.3f\n", presets[p][0], l);
    }
    printf("eval loops mean_repeated_8grams=%.3f\n", sum / 3);
}

// ----------------------------------------------------------------------------------------------
// The whole report

KvStatus eval_run(const char *model_path, const char *tok_path, const char *valid_path,
                  const char *corpus_path, bool verbose, KvError *err) {
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
    // the copy cases' names must be absent from the training text: --corpus takes one file or
    // several separated by commas
    for (const char *cp = corpus_path; cp && *cp;) {
        const char *comma = strchr(cp, ',');
        size_t pl = comma ? (size_t)(comma - cp) : strlen(cp);
        char path[1024];
        snprintf(path, sizeof path, "%.*s", (int)pl, cp);
        cp = comma ? comma + 1 : cp + pl;
        char *text;
        size_t len;
        st = read_whole_file(path, &text, &len, err);
        if (st != KV_OK)
            goto out;
        const char *found = eval_copy_name_found(text);
        char unseen[48];
        bool uf = eval_unseen_names_found(text, unseen, sizeof unseen);
        printf("eval copy corpus=%s novel_name_found=%s unseen_name_found=%s\n", path,
               found ? found : "none", uf ? unseen : "none");
        free(text);
    }
    int nc;
    int ok = eval_copy(&e, &t, false, verbose, &nc);
    int okh = eval_copy(&e, &t, true, verbose, &nc);
    printf("eval copy set=main correct=%d cases=%d rate=%.3f\n", ok, nc, (double)ok / nc);
    printf("eval copy set=hard correct=%d cases=%d rate=%.3f\n", okh, nc, (double)okh / nc);
    eval_heads(&e, &t);
    eval_targets(&e, &t, verbose);
out:
    engine_free(&e);
out_tok:
    tokenizer_free(&t);
    model_free(&m);
    return st;
}
