// test_lesson.c — lessons: every kind of parse and check error (with its file:line), the player
// (beats, exact going back, captions filled in from the session, view settings per beat), the
// KV-cost table, and `kvscope lesson`: each shipped lesson's deck builds with one page per beat
// and its captions in the PDF text, frames, and a bad lesson leaving nothing behind.
#include "app/app.h"
#include "lesson/lesson.h"
#include "sim/sim.h"
#include <cairo.h>
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <signal.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(lesson_parse, .fini = tu_leak_check);
TestSuite(lesson_check, .fini = tu_leak_check);
TestSuite(lesson_player, .fini = tu_leak_check);
TestSuite(lesson_known, .fini = tu_leak_check);
TestSuite(lesson_deck, .fini = tu_leak_check);

#define VOCAB 400
#define PATH "lessons/x.lesson"

static const Preset presets[] = {
    {"narrative", "Once upon a time"}, {"code", "def area(w, h):\n    return w *"}, {NULL, NULL}};

// Parses text; returns the error message (static buffer) or NULL when it parsed.
static const char *parse_error(const char *text) {
    static KvError err;
    Lesson l;
    memset(&err, 0, sizeof err);
    if (lesson_parse(&l, PATH, text, strlen(text), presets, &err) == KV_OK) {
        lesson_free(&l);
        return NULL;
    }
    cr_assert_eq(err.code, KV_ERR_INPUT);
    return err.msg;
}

static void expect_error(const char *text, const char *want) {
    const char *got = parse_error(text);
    cr_assert(got, "parsed, but expected: %s", want);
    cr_assert_str_eq(got, want);
}

// ----------------------------------------------------------------------------------------------
// Parse errors, one per kind

Test(lesson_parse, unknown_command) {
    expect_error("preset narrative\nstpe 3\nbeat\n",
                 PATH ":2: unknown command 'stpe' (did you mean 'step'?)");
    expect_error("preset narrative\nfrobnicate\nbeat\n",
                 PATH ":2: unknown command 'frobnicate' (see lessons/README.md)");
}

// The command table covers every op: each op's word is a command (a line of it alone is never
// "unknown"), and names round-trip through a parsed lesson.
Test(lesson_parse, every_op_is_a_command) {
    for (int op = 0; op < LESSON_OPS; op++) {
        const char *name = lesson_op_name((LessonOp)op);
        cr_assert_str_neq(name, "?", "op %d has no command", op);
        char text[128];
        snprintf(text, sizeof text, "preset narrative\n%s\nbeat\n", name);
        const char *got = parse_error(text);
        cr_assert(!got || !strstr(got, "unknown command"), "%s: %s", name, got);
    }
    cr_assert_str_eq(lesson_op_name(LESSON_PROMPT), "prompt", "preset is its second word");
    cr_assert_str_eq(lesson_op_name(LESSON_OPS), "?");
    Lesson l;
    KvError err = {0};
    const char *all = "title T\npreset narrative\nlayer all\nhead each\nhead 2\nview layers\n"
                      "theme light\nseed 18446744073709551615\nzoom 2\ncaption C\nbeat\n";
    cr_assert_eq(lesson_parse(&l, PATH, all, strlen(all), presets, &err), KV_OK, "%s", err.msg);
    static const LessonOp want[] = {LESSON_TITLE, LESSON_PROMPT,  LESSON_LAYER, LESSON_HEAD,
                                    LESSON_HEAD,  LESSON_VIEW,    LESSON_THEME, LESSON_SEED,
                                    LESSON_ZOOM,  LESSON_CAPTION, LESSON_BEAT};
    cr_assert_eq(l.n_cmds, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < l.n_cmds; i++)
        cr_assert_eq(l.cmds[i].op, want[i], "command %d", i);
    cr_assert_eq(l.cmds[2].n, VIEW_ALL_LAYERS);
    cr_assert_eq(l.cmds[3].n, VIEW_HEAD_EACH);
    cr_assert_eq(l.cmds[4].n, 1, "head 2 is index 1");
    cr_assert_eq(l.cmds[5].n, VIEW_LAYERS);
    cr_assert_eq(l.cmds[6].n, THEME_LIGHT);
    cr_assert_str_eq(l.cmds[7].str, "18446744073709551615");
    cr_assert_float_eq(l.cmds[8].x, 2.0, 1e-12);
    cr_assert_eq(l.beats[0], 10);
    lesson_free(&l);
    // The view names in the message come from the view table.
    expect_error("preset narrative\nview sideways\nbeat\n",
                 PATH ":2: view: unknown view 'sideways' (sequence, heatmap, layers, memory, 3d, "
                      "sampling, pool, split)");
    // Invalid UTF-8 the old walker let through: an overlong '/' and a surrogate.
    expect_error("preset narrative\ncaption \xc0\xaf\nbeat\n", PATH ":2: not valid UTF-8 text");
    expect_error("preset narrative\ncaption \xed\xa0\x80\nbeat\n", PATH ":2: not valid UTF-8 text");
}

// Numbers and seeds in a lesson are read by the same parsers as the command line's options.
Test(lesson_parse, numbers_as_on_the_command_line) {
    const char *got = parse_error("preset narrative\nseed 0\nbeat\n");
    cr_assert(got && strstr(got, PATH ":2: seed: 0 is not a usable seed"), "%s", got);
    got = parse_error("preset narrative\nseed 99999999999999999999999\nbeat\n");
    cr_assert(got && strstr(got, "larger than 2^64 - 1"), "%s", got);
    got = parse_error("preset narrative\nstep +5\nbeat\n");
    cr_assert(got && strstr(got, "step: '+5' is not a whole number"), "%s", got);
    got = parse_error("preset narrative\ntemperature inf\nbeat\n");
    cr_assert(got && strstr(got, "temperature: 'inf' is not a number"), "%s", got);
}

Test(lesson_parse, missing_argument) {
    expect_error("preset narrative\nstep\nbeat\n", PATH ":2: step: needs a number of steps");
    expect_error("preset\n", PATH ":1: preset: needs a preset name");
    expect_error("prompt\n", PATH ":1: prompt: needs the prompt text");
    expect_error("preset code\ncaption\nbeat\n", PATH ":2: caption: needs some text");
    expect_error("preset code\ncache # on\nbeat\n", PATH ":2: cache: needs on, off or a policy");
}

Test(lesson_parse, extra_argument) {
    expect_error("preset narrative\nstep 3 4\nbeat\n", PATH ":2: step: extra argument '4'");
    expect_error("preset narrative\nbeat now\n", PATH ":2: beat: extra argument 'now'");
    expect_error("preset narrative extra\n", PATH ":1: preset: extra argument 'extra'");
}

Test(lesson_parse, bad_number) {
    expect_error("preset code\nstep three\nbeat\n", PATH ":2: step: 'three' is not a whole number");
    expect_error("preset code\nstep 0\nbeat\n", PATH ":2: step: 0 is out of range (1..65536)");
    expect_error("temperature hot\n", PATH ":1: temperature: 'hot' is not a number");
    expect_error("top-p 1.5\n", PATH ":1: top-p: 1.5 is out of range (0..1)");
    expect_error("seed -4\n", PATH ":1: seed: '-4' is not a whole number >= 0");
    expect_error("layer 0\n", PATH ":1: layer: '0' is not a layer number (1, 2, ...) or all");
    expect_error("head x\n", PATH ":1: head: 'x' is not a head number (1, 2, ...), mean or each");
    expect_error("zoom 0.5\n", PATH ":1: zoom: 0.5 is out of range (1..16)");
}

Test(lesson_parse, unknown_names) {
    expect_error("preset poem\n", PATH ":1: preset: unknown preset 'poem' (narrative, code)");
    expect_error(
        "view tree\n", PATH
        ":1: view: unknown view 'tree' (sequence, heatmap, layers, memory, 3d, sampling, pool, "
        "split)");
    expect_error("theme blue\n", PATH ":1: theme: unknown theme 'blue' (dark, light)");
    expect_error("cache maybe\n", PATH ":1: cache: expected on, off or a policy (full, window:W, "
                                       "sinks:S,W, h2o:H,R), not 'maybe'");
    expect_error("cache window:0\n", PATH ":1: cache: W must be at least 1, not 0");
    expect_error("cache window:x\n", PATH ":1: cache: W is not a whole number: 'x'");
    expect_error("cache sinks:4\n", PATH ":1: cache: 'sinks:4': sinks takes two sizes, sinks:S,W");
    expect_error("cache h2o:-2,4\n", PATH ":1: cache: H must be at least 1, not -2");
}

Test(lesson_parse, caption_without_beat) {
    expect_error("preset code\nstep 1\nbeat\ncaption The end\ntext never shown\n",
                 PATH ":4: caption without a beat: it would never be shown (add `beat` after it)");
    expect_error("preset code\nbeat\nstep 2\n",
                 PATH ":3: 'step' after the last beat is never shown (add `beat` after it)");
}

Test(lesson_parse, caption_structure) {
    expect_error("preset code\ntext no title\nbeat\n",
                 PATH ":2: text without a caption in this beat (start with `caption TITLE`)");
    expect_error("preset code\ncaption One\ncaption Two\nbeat\n",
                 PATH ":3: a second caption for one beat (the first is line 2; put a beat "
                      "between them)");
    // a caption belongs to one beat: the next beat may have its own
    cr_assert_null(parse_error("preset code\ncaption One\nbeat\ncaption Two\nbeat\n"));
}

Test(lesson_parse, order) {
    expect_error("step 2\n", PATH ":1: step before any prompt or preset");
    expect_error("# nothing yet\nbeat\n", PATH ":2: beat before any prompt or preset");
    expect_error("preset code\nmodel m.bin\nbeat\n",
                 PATH ":2: model must come before the first prompt or preset");
    expect_error("title A\ntitle B\n", PATH ":2: a second title line (the first is line 1)");
}

Test(lesson_parse, empty_lesson) {
    expect_error("", PATH ":1: empty lesson: no beat to show (see lessons/README.md)");
    expect_error("# only a comment\n\n   \n", PATH ":1: empty lesson: no beat to show (see "
                                                   "lessons/README.md)");
    expect_error("title Nothing\n", PATH ":1: empty lesson: no beat to show (see "
                                         "lessons/README.md)");
}

Test(lesson_parse, captions_on_a_projector) {
    char long_title[200], long_text[600];
    memset(long_title, 'a', 100), long_title[100] = '\0';
    memset(long_text, 'b', 300), long_text[300] = '\0';
    char buf[1200];
    snprintf(buf, sizeof buf, "preset code\ncaption %s\nbeat\n", long_title);
    expect_error(buf, PATH ":2: caption: 100 characters, too long to read on a projector (at most "
                           "72; put the rest in `text`)");
    snprintf(buf, sizeof buf, "preset code\ncaption T\ntext %s\nbeat\n", long_text);
    expect_error(buf, PATH ":3: text: this beat's caption text is 300 characters, too long to read "
                           "on a projector (at most 260; split it over two beats)");
    expect_error("preset code\ncaption {tokenz} tokens\nbeat\n",
                 PATH ":2: caption: unknown placeholder {tokenz} (see lessons/README.md)");
    const char *got = parse_error("preset code\ncaption X\ntext {kv:llama9}\nbeat\n");
    cr_assert(got && strstr(got, PATH ":3: text: unknown placeholder {kv:llama9} (known models:"),
              "%s", got ? got : "(parsed)");
    expect_error("preset code\ncaption half {open\nbeat\n",
                 PATH ":2: caption: a '{' without its '}' (write {{ for a brace)");
}

Test(lesson_parse, bad_text) {
    expect_error("preset code\nprompt a\\qb\nbeat\n",
                 PATH ":2: prompt: unknown escape '\\q' (use \\n, \\t or \\\\)");
    expect_error("preset code\ncaption caf\xc3\n", PATH ":2: not valid UTF-8 text");
    const char nul[] = "preset code\nbeat\0\n";
    KvError err = {0};
    Lesson l;
    cr_assert_eq(lesson_parse(&l, PATH, nul, sizeof nul - 1, presets, &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, PATH ":2: a NUL byte: this is not a text file");
}

Test(lesson_parse, file_missing) {
    Lesson l;
    KvError err = {0};
    cr_assert_eq(lesson_load(&l, "lessons/no-such.lesson", presets, &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, "lessons/no-such.lesson: cannot open: No such file or directory");
}

Test(lesson_parse, what_a_good_file_holds) {
    const char *text = "# a comment\r\n"
                       "title  Two beats  \r\n"
                       "model ../models/m.bin\n"
                       "prompt a\\nb\\\\c\n"
                       "temperature 0.8\n"
                       "top-k 40\n"
                       "seed 18446744073709551615\n"
                       "step 3   # three tokens\n"
                       "  caption   One # not a comment here\n"
                       "text first\n"
                       "text second\n"
                       "beat\n"
                       "\n"
                       "layer 2\n"
                       "head each\n"
                       "view heatmap\n"
                       "theme light\n"
                       "beat\n";
    Lesson l;
    KvError err = {0};
    cr_assert_eq(lesson_parse(&l, "dir/x.lesson", text, strlen(text), presets, &err), KV_OK, "%s",
                 err.msg);
    cr_assert_str_eq(l.title, "Two beats");
    cr_assert_str_eq(l.model, "dir/../models/m.bin");
    cr_assert_str_eq(l.tokenizer, "");
    cr_assert_eq(l.n_beats, 2);
    cr_assert_eq(l.cmds[l.beats[0]].line, 12);
    cr_assert_eq(l.cmds[l.beats[1]].line, 18);
    const LessonCmd *prompt = &l.cmds[2];
    cr_assert_eq(prompt->op, LESSON_PROMPT);
    cr_assert_str_eq(prompt->str, "a\nb\\c");
    cr_assert_eq(l.cmds[6].op, LESSON_STEP);
    cr_assert_eq(l.cmds[6].n, 3);
    cr_assert_eq(l.cmds[7].op, LESSON_CAPTION);
    cr_assert_str_eq(l.cmds[7].str, "One # not a comment here");
    cr_assert_eq(l.cmds[11].op, LESSON_LAYER);
    cr_assert_eq(l.cmds[11].n, 1);
    cr_assert_eq(l.cmds[12].n, VIEW_HEAD_EACH);
    lesson_free(&l);
}

// ----------------------------------------------------------------------------------------------
// The check against a model, and the player

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

static void fixture_init(Fixture *f, int seq_len) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 100, 2, 4, 2, VOCAB, seq_len, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 7, &err), KV_OK, "%s", err.msg);
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

static void parse_ok(Lesson *l, const char *text) {
    KvError err = {0};
    cr_assert_eq(lesson_parse(l, PATH, text, strlen(text), presets, &err), KV_OK, "%s", err.msg);
}

static const char *check_error(Fixture *f, const char *text) {
    static KvError err;
    memset(&err, 0, sizeof err);
    Lesson l;
    parse_ok(&l, text);
    KvStatus st = lesson_check(&l, &f->m, &f->t, &err);
    lesson_free(&l);
    return st ? err.msg : NULL;
}

Test(lesson_check, too_many_steps_for_the_context) {
    Fixture f;
    fixture_init(&f, 32);
    // "Once upon a time": BOS + dummy space + pieces; whatever it encodes to, 32 - n + 1 fit.
    int ids[32], n = 0;
    KvError err = {0};
    cr_assert_eq(tokenizer_encode(&f.t, "Once upon a time", true, false, ids, 31, &n, &err), KV_OK);
    int room = 32 - n + 1;
    char text[256], want[400];
    snprintf(text, sizeof text, "preset narrative\nstep %d\nbeat\n", room);
    cr_assert_null(check_error(&f, text));
    snprintf(text, sizeof text, "preset narrative\nstep 2\nbeat\nstep %d\nbeat\n", room - 1);
    snprintf(want, sizeof want,
             PATH ":4: step %d: too many steps for the model's context of 32 tokens (the prompt "
                  "has %d; room for %d more steps here)",
             room - 1, n, room - 2);
    cr_assert_str_eq(check_error(&f, text), want);
    // going back and resetting give the room back
    snprintf(text, sizeof text, "preset narrative\nstep %d\nback 2\nstep 2\nreset\nstep %d\nbeat\n",
             room, room);
    cr_assert_null(check_error(&f, text));
    fixture_free(&f);
}

Test(lesson_check, model_shape_and_prompt) {
    Fixture f;
    fixture_init(&f, 32);
    cr_assert_str_eq(check_error(&f, "preset code\nlayer 3\nbeat\n"),
                     PATH ":2: layer 3: the model has 2 layers");
    cr_assert_str_eq(check_error(&f, "preset code\nhead 5\nbeat\n"),
                     PATH ":2: head 5: the model has 4 heads");
    cr_assert_null(check_error(&f, "preset code\nlayer 2\nhead 4\nbeat\n"));
    cr_assert_str_eq(check_error(&f, "preset code\nstep 1\nback 2\nbeat\n"),
                     PATH ":3: back 2: only 1 step to go back at this point");
    cr_assert_str_eq(check_error(&f, "prompt "
                                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nbeat\n"),
                     PATH ":1: prompt: too long: it must leave room in the model's context to "
                          "generate");
    fixture_free(&f);
}

static const char *player_lesson = "preset narrative\n"
                                   "caption Start: {tokens} tokens\n"
                                   "text {layers} layers, {kv_per_token} per token\n"
                                   "beat\n"
                                   "step 1\n"
                                   "view heatmap\n"
                                   "layer 2\n"
                                   "caption After prefill\n"
                                   "beat\n"
                                   "temperature 1\n"
                                   "seed 5\n"
                                   "step 4\n"
                                   "cache off\n"
                                   "step 3\n"
                                   "theme light\n"
                                   "beat\n"
                                   "back 2\n"
                                   "head 3\n"
                                   "caption {steps} steps, last {last_token}\n"
                                   "beat\n";

Test(lesson_player, beats_and_exact_back) {
    Fixture f;
    fixture_init(&f, 64);
    Lesson l;
    parse_ok(&l, player_lesson);
    KvError err = {0};
    cr_assert_eq(lesson_check(&l, &f.m, &f.t, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(l.n_beats, 4);

    // Reference: each beat reached fresh from the start.
    int ref_tokens[4][64], ref_n[4];
    char ref_title[4][1024];
    for (int k = 0; k < 4; k++) {
        Fixture g;
        fixture_init(&g, 64);
        LessonPlayer p;
        lesson_player_init(&p, &l, &g.s);
        cr_assert_eq(lesson_player_goto(&p, k, &err), KV_OK, "%s", err.msg);
        ref_n[k] = g.s.n_tokens;
        memcpy(ref_tokens[k], g.s.tokens, (size_t)g.s.n_tokens * sizeof(int));
        snprintf(ref_title[k], sizeof ref_title[k], "%s", p.title);
        fixture_free(&g);
    }
    cr_assert_eq(ref_n[1], ref_n[0] + 1);
    cr_assert_eq(ref_n[2], ref_n[1] + 7);
    cr_assert_eq(ref_n[3], ref_n[2] - 2);

    // Forward, back, jumps: always the same state as from the start.
    LessonPlayer p;
    lesson_player_init(&p, &l, &f.s);
    const int order[] = {0, 1, 2, 3, 2, 1, 0, 3, 1, 2};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int k = order[i];
        cr_assert_eq(lesson_player_goto(&p, k, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(p.beat, k);
        cr_assert_eq(f.s.n_tokens, ref_n[k], "beat %d after %zu moves", k, i);
        cr_assert(memcmp(f.s.tokens, ref_tokens[k], (size_t)ref_n[k] * sizeof(int)) == 0,
                  "beat %d tokens after %zu moves", k, i);
        cr_assert_str_eq(p.title, ref_title[k]);
    }
    cr_assert_eq(lesson_player_goto(&p, 4, &err), KV_ERR_INPUT);
    cr_assert_eq(lesson_player_goto(&p, -1, &err), KV_ERR_INPUT);

    // Captions filled in from the session; view settings carried; captions per beat.
    View v;
    char want[256];
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK);
    view_init(&v);
    lesson_player_view(&p, &v);
    snprintf(want, sizeof want, "Start: %d tokens", ref_n[0]);
    cr_assert_str_eq(v.caption_title, want);
    cr_assert_str_eq(v.caption_text, "2 layers, 384 B per token"); // 2 * 2 layers * 24 * 4
    cr_assert_eq(v.kind, VIEW_SEQUENCE);
    cr_assert_eq(lesson_player_goto(&p, 2, &err), KV_OK);
    lesson_player_view(&p, &v);
    cr_assert_null(v.caption_title);
    cr_assert_null(v.caption_text);
    cr_assert_eq(v.kind, VIEW_HEATMAP);
    cr_assert_eq(v.layer, 1);
    cr_assert_eq(v.theme, THEME_LIGHT);
    cr_assert_eq(f.s.mode, CACHE_MODE_OFF);
    cr_assert_eq(lesson_player_goto(&p, 3, &err), KV_OK);
    lesson_player_view(&p, &v);
    cr_assert_eq(v.head, 2);
    cr_assert(strncmp(v.caption_title, "6 steps, last \"", 15) == 0, "%s", v.caption_title);
    // back to the start: the view and the mode are the lesson's defaults again
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK);
    lesson_player_view(&p, &v);
    cr_assert_eq(v.kind, VIEW_SEQUENCE);
    cr_assert_eq(v.theme, THEME_DARK);
    cr_assert_eq(f.s.mode, CACHE_MODE_ON);
    lesson_free(&l);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// What the cache costs: the table's numbers come from the published shapes

Test(lesson_known, kv_bytes_per_token) {
    struct {
        const char *key;
        uint64_t bytes;
        const char *shown;
    } want[] = {
        {"llama2-7b", 32ull * 32 * 128 * 2 * 2, "512 KiB"}, // 524288
        {"llama3-8b", 32ull * 8 * 128 * 2 * 2, "128 KiB"},
        {"mistral-7b", 32ull * 8 * 128 * 2 * 2, "128 KiB"},
        {"gpt2", 12ull * 12 * 64 * 2 * 2, "36 KiB"},
        {"llama2-70b", 80ull * 8 * 128 * 2 * 2, "320 KiB"},
        {"gpt3-175b", 96ull * 96 * 128 * 2 * 2, "4.5 MiB"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const PublishedModel *k = project_find_key(want[i].key);
        cr_assert(k, "%s", want[i].key);
        ProjectCache pc;
        project_cache_default(&pc);
        cr_assert_eq((uint64_t)project_bytes_per_token(k, &pc), want[i].bytes, "%s", want[i].key);
        char buf[32];
        kv_format_bytes(buf, sizeof buf, want[i].bytes);
        cr_assert_str_eq(buf, want[i].shown);
    }
    cr_assert_null(project_find_key("llama9"));
    char buf[32];
    kv_format_bytes(buf, sizeof buf, 1);
    cr_assert_str_eq(buf, "1 B");
    kv_format_bytes(buf, sizeof buf, 1536);
    cr_assert_str_eq(buf, "1.5 KiB");
    kv_format_bytes(buf, sizeof buf, 7ull << 30);
    cr_assert_str_eq(buf, "7 GiB");
}

Test(lesson_known, placeholders_in_captions) {
    Fixture f;
    fixture_init(&f, 64);
    KvError err = {0};
    cr_assert_eq(session_set_prompt(&f.s, "Once", &err), KV_OK);
    char out[512];
    lesson_expand(&f.s, "{{x} {sum:llama2-7b}; {kvseq:gpt2} for {tokens}", out, sizeof out);
    char want[256];
    snprintf(want, sizeof want, "{x} 2 x 32 x 32 x 128 x 2 bytes = 512 KiB; %s for %d", "%s",
             f.s.n_tokens);
    char seq[32];
    kv_format_bytes(seq, sizeof seq, 36864ull * (uint64_t)f.s.n_tokens);
    char full[300];
    snprintf(full, sizeof full, want, seq);
    cr_assert_str_eq(out, full);
    // the ratio: llama2-7b per token over this model's 384 bytes (524288 / 384 = 1365.3)
    lesson_expand(&f.s, "{ratio:llama2-7b}", out, sizeof out);
    cr_assert_str_eq(out, "1365x");
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// kvscope lesson: the shipped lessons' decks, frames, and errors from the command line

// The model the decks are built with: the shipped one when it is there, otherwise the golden
// random model (same shape as ../shared/golden/a_shared.bin), written into dir.
static void deck_model(const char *dir, char **model, char **tok) {
    if (access("assets/models/kvscope6.bin", R_OK) == 0 &&
        access("assets/models/tokenizer.bin", R_OK) == 0) {
        *model = strdup("assets/models/kvscope6.bin");
        *tok = strdup("assets/models/tokenizer.bin");
        return;
    }
    *model = tu_join(dir, "model.bin");
    *tok = tu_join(dir, "tok.bin");
    ModelConfig c = tu_golden_config(true);
    float *data = malloc(config_weight_count(&c) * sizeof(float));
    tu_golden_fill(&c, data);
    KvError err = {0};
    cr_assert_eq(tu_write_checkpoint(*model, &c, data, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_write_tokenizer(*tok, 512, &err), KV_OK, "%s", err.msg);
    free(data);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The shipped lessons, sorted (owned strings; *n receives the count).
static char **shipped_lessons(int *n) {
    DIR *d = opendir("lessons");
    cr_assert(d, "no lessons/ folder (run from the repository root)");
    char **names = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 7 && strcmp(e->d_name + len - 7, ".lesson") == 0) {
            names = realloc(names, ((size_t)*n + 1) * sizeof *names);
            names[(*n)++] = tu_join("lessons", e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)*n, sizeof *names, cmp_str);
    return names;
}

// Whitespace runs become one space, so wrapped caption lines still match.
static void squeeze(char *s) {
    char *o = s;
    bool space = false;
    for (char *c = s; *c; c++) {
        if (isspace((unsigned char)*c)) {
            space = o != s;
            continue;
        }
        if (space)
            *o++ = ' ';
        space = false;
        *o++ = *c;
    }
    *o = '\0';
}

// A poppler tool's full path from PATH (tu_run does not search PATH); owned.
static char *tool(const char *name) {
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = tu_join(d, name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    cr_assert_fail("%s not found: install poppler-utils (make setup)", name);
    return NULL;
}

static int pdf_pages(const char *pdf) {
    char *pdfinfo = tool("pdfinfo");
    char *argv[] = {pdfinfo, (char *)pdf, NULL};
    TuRun r;
    cr_assert(tu_run(argv, 30, &r), "cannot run pdfinfo");
    cr_assert_eq(r.status, 0, "pdfinfo %s: %s", pdf, r.err);
    const char *p = strstr(r.out, "Pages:");
    cr_assert(p, "%s", r.out);
    int pages = atoi(p + 6);
    const char *size = strstr(r.out, "Page size:");
    double w = 0, h = 0;
    cr_assert(size && sscanf(size + 10, " %lf x %lf pts", &w, &h) == 2, "%s", r.out);
    cr_assert(w == 960 && h == 540, "pages of %g x %g pts, not 960 x 540 (16:9)", w, h);
    tu_run_free(&r);
    free(pdfinfo);
    return pages;
}

// The CPU limit of tu_run_cpu ends a child that spins (SIGXCPU at the limit), and a child that
// does not spin finishes as usual.
Test(lesson_deck, cpu_limit_ends_a_spinning_child, .timeout = 120) {
    char *spin[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    TuRun r;
    cr_assert(tu_run_cpu(spin, 1, &r), "cannot run /bin/sh");
    cr_assert(r.status == 128 + SIGXCPU || r.status == 128 + SIGKILL, "exit %d", r.status);
    tu_run_free(&r);
    char *quick[] = {"/bin/sh", "-c", "echo done", NULL};
    cr_assert(tu_run_cpu(quick, 1, &r), "cannot run /bin/sh");
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "done\n");
    tu_run_free(&r);
}

// Each lesson's build is limited in CPU seconds (300), not wall seconds: at a load of 20 a correct
// sanitized run took longer than 300 wall seconds. The test's own (wall) timeout is only the
// backstop for a hang.
Test(lesson_deck, every_shipped_lesson_builds, .timeout = 3600) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir(), *model, *tok;
    deck_model(dir, &model, &tok);
    int n;
    char **lessons = shipped_lessons(&n);
    cr_assert_geq(n, 5, "at least five lessons, found %d", n);
    for (int i = 0; i < n; i++) {
        char *pdf = tu_join(dir, "deck.pdf");
        char *argv[] = {(char *)bin, "lesson", lessons[i],    "--pdf", pdf,
                        "--model",   model,    "--tokenizer", tok,     NULL};
        TuRun r;
        cr_assert(tu_run_cpu(argv, 300, &r), "cannot run %s", bin);
        cr_assert_eq(r.status, 0, "%s: exit %d: %s", lessons[i], r.status, r.err);
        cr_assert(!tu_has_sanitizer_report(r.err), "%s", r.err);
        tu_run_free(&r);

        // What the file says: its beats, and its captions (up to the first placeholder).
        size_t len;
        char *text = (char *)tu_read_file(lessons[i], &len);
        cr_assert(text);
        int beats = 0;
        char *captions[64];
        int n_captions = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            while (*line == ' ' || *line == '\t')
                line++;
            if (strncmp(line, "beat", 4) == 0 &&
                (line[4] == '\0' || isspace((unsigned char)line[4])))
                beats++;
            if ((strncmp(line, "caption ", 8) == 0 || strncmp(line, "text ", 5) == 0) &&
                n_captions < 64) {
                char *c = strdup(line + (line[0] == 'c' ? 8 : 5));
                char *brace = strchr(c, '{');
                if (brace)
                    *brace = '\0';
                squeeze(c);
                size_t cl = strlen(c);
                while (cl > 0 && c[cl - 1] == ' ')
                    c[--cl] = '\0';
                if (cl > 24) // the start of long sentences; pango may wrap anywhere after
                    c[24] = '\0';
                captions[n_captions++] = c;
            }
        }
        free(text);
        cr_assert(beats >= 6 && beats <= 15, "%s: %d beats (6..15)", lessons[i], beats);
        cr_assert_eq(pdf_pages(pdf), beats, "%s: one page per beat", lessons[i]);

        char *pdftotext = tool("pdftotext");
        char *argv2[] = {pdftotext, pdf, "-", NULL};
        cr_assert(tu_run(argv2, 30, &r), "cannot run pdftotext");
        cr_assert_eq(r.status, 0, "%s", r.err);
        squeeze(r.out);
        for (int k = 0; k < n_captions; k++) {
            if (captions[k][0])
                cr_assert(strstr(r.out, captions[k]), "%s: caption '%s' not in the PDF text",
                          lessons[i], captions[k]);
            free(captions[k]);
        }
        tu_run_free(&r);
        free(pdftotext);
        free(pdf);
        free(lessons[i]);
    }
    free(lessons);
    free(model);
    free(tok);
    tu_rmtree(dir);
}

Test(lesson_deck, frames_and_light_theme, .timeout = 300) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir(), *model, *tok;
    deck_model(dir, &model, &tok);
    char *lesson = tu_join(dir, "two.lesson"), *frames = tu_join(dir, "out/frames");
    const char *text =
        "title Two\npreset code\ncaption First\nbeat\nstep 3\ncaption Second\nbeat\n";
    cr_assert(tu_write_file(lesson, text, strlen(text)));
    char *argv[] = {(char *)bin, "lesson",      lesson,    "--frames", frames,
                    "--size",    "1280x720",    "--theme", "light",    "--model",
                    model,       "--tokenizer", tok,       NULL};
    TuRun r;
    cr_assert(tu_run(argv, 120, &r));
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    tu_run_free(&r);
    for (int k = 1; k <= 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "beat-%02d.png", k);
        char *p = tu_join(frames, name);
        size_t n = 0;
        unsigned char *png = tu_read_file(p, &n);
        if (k <= 2) {
            cr_assert(png && n > 8 && memcmp(png, "\x89PNG", 4) == 0, "%s", p);
            // width and height in the IHDR chunk
            cr_assert_eq((png[16] << 24 | png[17] << 16 | png[18] << 8 | png[19]), 1280);
            cr_assert_eq((png[20] << 24 | png[21] << 16 | png[22] << 8 | png[23]), 720);
        } else {
            cr_assert_null(png, "only two beats");
        }
        free(png);
        free(p);
    }
    free(lesson);
    free(frames);
    free(model);
    free(tok);
    tu_rmtree(dir);
}

Test(lesson_deck, errors_on_the_command_line, .timeout = 120) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir(), *model, *tok;
    deck_model(dir, &model, &tok);
    char *lesson = tu_join(dir, "bad.lesson"), *pdf = tu_join(dir, "deck.pdf");
    char want[1200];
    TuRun r;

    // a parse error: one line naming file and line, exit 2, no deck
    const char *bad = "preset narrative\ncaption Fine\nbeat\nstep 2 3\nbeat\n";
    cr_assert(tu_write_file(lesson, bad, strlen(bad)));
    char *argv[] = {(char *)bin, "lesson", lesson,        "--pdf", pdf,
                    "--model",   model,    "--tokenizer", tok,     NULL};
    cr_assert(tu_run(argv, 60, &r));
    snprintf(want, sizeof want, "kvscope: %s:4: step: extra argument '3'\n", lesson);
    cr_assert_eq(r.status, 2);
    cr_assert_str_eq(r.err, want);
    cr_assert_eq(access(pdf, F_OK), -1, "a bad lesson left a deck behind");
    tu_run_free(&r);

    // a check error (needs the model): still before anything is written
    char big[200];
    snprintf(big, sizeof big, "preset fact\nstep 3\nbeat\nstep 100000\nbeat\n");
    cr_assert(tu_write_file(lesson, big, strlen(big)));
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 2, "%s", r.err);
    snprintf(want, sizeof want, "kvscope: %s:4: step: 100000 is out of range (1..65536)\n", lesson);
    cr_assert_str_eq(r.err, want);
    tu_run_free(&r);
    snprintf(big, sizeof big, "preset fact\nstep 3\nbeat\nstep 60000\nbeat\n");
    cr_assert(tu_write_file(lesson, big, strlen(big)));
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 2, "%s", r.err);
    snprintf(want, sizeof want, "kvscope: %s:4: step 60000: too many steps", lesson);
    cr_assert(strncmp(r.err, want, strlen(want)) == 0, "%s", r.err);
    cr_assert_eq(tu_count_lines(r.err), 1);
    cr_assert_eq(access(pdf, F_OK), -1);
    tu_run_free(&r);

    // a missing file
    char *missing = tu_join(dir, "nope.lesson");
    char *argv2[] = {(char *)bin, "lesson", missing, "--pdf", pdf, NULL};
    cr_assert(tu_run(argv2, 60, &r));
    cr_assert_eq(r.status, 2);
    snprintf(want, sizeof want, "kvscope: %s: cannot open: No such file or directory\n", missing);
    cr_assert_str_eq(r.err, want);
    tu_run_free(&r);

    // an unwritable deck: exit 2, nothing left
    const char *good = "preset fact\ncaption Fine\nbeat\n";
    cr_assert(tu_write_file(lesson, good, strlen(good)));
    char *nowhere = tu_join(dir, "no/such/dir/deck.pdf");
    char *argv3[] = {(char *)bin, "lesson", lesson,        "--pdf", nowhere,
                     "--model",   model,    "--tokenizer", tok,     NULL};
    cr_assert(tu_run(argv3, 60, &r));
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strncmp(r.err, "kvscope: ", 9) == 0 && strstr(r.err, nowhere), "%s", r.err);
    tu_run_free(&r);

    // usage
    char *argv4[] = {(char *)bin, "lesson", NULL};
    cr_assert(tu_run(argv4, 60, &r));
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "kvscope: lesson: needs a lesson file"), "%s", r.err);
    tu_run_free(&r);

    free(nowhere);
    free(missing);
    free(lesson);
    free(pdf);
    free(model);
    free(tok);
    tu_rmtree(dir);
}

// A presenter who steps or toggles the cache in the window between beats does not derail the
// lesson: the next beat is still exactly the lesson's.
Test(lesson_player, session_moved_by_someone_else) {
    Fixture f, g;
    fixture_init(&f, 64);
    fixture_init(&g, 64);
    Lesson l;
    parse_ok(&l, player_lesson);
    KvError err = {0};
    LessonPlayer p, q;
    lesson_player_init(&p, &l, &f.s);
    lesson_player_init(&q, &l, &g.s);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK);
    session_set_mode(&f.s, CACHE_MODE_OFF);
    session_step(&f.s);
    session_step(&f.s);
    cr_assert_eq(lesson_player_goto(&p, 2, &err), KV_OK);
    cr_assert_eq(lesson_player_goto(&q, 2, &err), KV_OK);
    cr_assert_eq(f.s.n_tokens, g.s.n_tokens);
    cr_assert(memcmp(f.s.tokens, g.s.tokens, (size_t)g.s.n_tokens * sizeof(int)) == 0);
    cr_assert_eq(f.s.mode, g.s.mode);
    lesson_free(&l);
    fixture_free(&f);
    fixture_free(&g);
}

// `cache POLICY`: --cache's words; a budget past the model's context is refused with the line.
Test(lesson_check, cache_policy_against_the_context) {
    Fixture f;
    fixture_init(&f, 32);
    cr_assert_null(check_error(&f, "preset narrative\ncache window:8\nstep 3\nbeat\ncache full\n"
                                   "step 1\nbeat\n"));
    cr_assert_str_eq(check_error(&f, "preset narrative\nstep 1\ncache sinks:4,40\nbeat\n"),
                     PATH ":3: cache: sinks:4,40 keeps 44 positions, more than the model's "
                          "context of 32");
    fixture_free(&f);
}

// `cache POLICY` plays into the session: the policy holds until changed, every beat reached by
// any path has the same tokens and policy, and going back to the start restores the full cache.
Test(lesson_player, cache_policy_beats) {
    Fixture f;
    fixture_init(&f, 64);
    Lesson l;
    parse_ok(&l, "preset narrative\ncache window:4\nstep 9\nbeat\ncache h2o:2,2\nstep 3\nbeat\n"
                 "cache full\nstep 1\nbeat\n");
    KvError err = {0};
    cr_assert_eq(lesson_check(&l, &f.m, &f.t, &err), KV_OK, "%s", err.msg);
    LessonPlayer p;
    lesson_player_init(&p, &l, &f.s);
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(f.s.cache_kind.retention, KV_RETAIN_WINDOW);
    cr_assert_eq(f.s.cache_kind.window, 4);
    cr_assert_eq(kvcache_bytes_resident(&f.s.eng.cache), 4 * config_kv_bytes_per_token(&f.m.cfg));
    cr_assert(session_last(&f.s)->drift_measured);
    int tokens[64];
    const int n1 = f.s.n_tokens;
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(f.s.cache_kind.retention, KV_RETAIN_H2O);
    memcpy(tokens, f.s.tokens, (size_t)f.s.n_tokens * sizeof(int));
    cr_assert_eq(lesson_player_goto(&p, 2, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(f.s.cache_kind.retention, KV_RETAIN_FULL);
    cr_assert_eq(session_last(&f.s)->first, 0, "turning the budget off recomputes");
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(f.s.n_tokens, n1);
    cr_assert_eq(f.s.cache_kind.retention, KV_RETAIN_WINDOW);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    cr_assert(memcmp(f.s.tokens, tokens, (size_t)f.s.n_tokens * sizeof(int)) == 0);
    lesson_free(&l);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Every beat of every shipped lesson, on the shipped model, as a class sees it: no two
// consecutive beats show the same picture (drawn without their captions, which always differ),
// and the picture supports what the caption says where a test can tell: a beat about sampling
// shows a real choice (a positive temperature, no candidate at 99.5% or more).

#define BEAT_W 480
#define BEAT_H 270

static unsigned char *beat_picture(Session *s, View v) {
    v.caption_title = v.caption_text = NULL;
    view_prepare(s, &v); // as the player and the window do: the inspector's numbers, the twin
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, BEAT_W, BEAT_H);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, s, &v, BEAT_W, BEAT_H, 1.0);
    cairo_destroy(cr);
    cairo_surface_flush(img);
    size_t n = (size_t)cairo_image_surface_get_stride(img) * BEAT_H;
    unsigned char *px = malloc(n);
    cr_assert_not_null(px);
    memcpy(px, cairo_image_surface_get_data(img), n);
    cairo_surface_destroy(img);
    return px;
}

// Pixels (of BEAT_W x BEAT_H) where two pictures differ by more than a little in any channel.
static long pixels_apart(const unsigned char *a, const unsigned char *b) {
    long n = 0;
    const int stride = cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, BEAT_W);
    for (int y = 0; y < BEAT_H; y++)
        for (int x = 0; x < BEAT_W; x++) {
            const unsigned char *p = a + (size_t)y * stride + 4 * x, *q = b + (p - a);
            n += abs(p[0] - q[0]) > 24 || abs(p[1] - q[1]) > 24 || abs(p[2] - q[2]) > 24;
        }
    return n;
}

static bool says(const char *caption, const char *word) {
    char low[2048];
    size_t i = 0;
    for (; caption[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)caption[i]);
    low[i] = '\0';
    return strstr(low, word) != NULL;
}

Test(lesson_beats, each_beat_changes_the_picture_and_supports_its_caption, .timeout = 600) {
    if (access("assets/models/kvscope6.bin", R_OK) != 0)
        cr_skip_test("the shipped model is not there");
    int n;
    char **lessons = shipped_lessons(&n);
    cr_assert_geq(n, 5);
    int beats_seen = 0, sampling_beats = 0, repeats = 0;
    for (int i = 0; i < n; i++) {
        Lesson l;
        KvError err = {0};
        cr_assert_eq(lesson_load(&l, lessons[i], app_presets, &err), KV_OK, "%s", err.msg);
        Glossary g;
        cr_assert_eq(glossary_load(&g, "assets/glossary.txt", &err), KV_OK, "%s", err.msg);
        cr_assert_eq(lesson_bind_glossary(&l, &g, &err), KV_OK, "%s", err.msg);
        glossary_free(&g);
        Model m;
        Tokenizer t;
        Session s;
        cr_assert_eq(app_load(&m, &t, l.model[0] ? l.model : "assets/models/kvscope6.bin",
                              l.tokenizer[0] ? l.tokenizer : "assets/models/tokenizer.bin", &err),
                     KV_OK, "%s: %s", lessons[i], err.msg);
        cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_init(&s, &m, &t, &err), KV_OK, "%s", err.msg);
        LessonPlayer p;
        lesson_player_init(&p, &l, &s);
        unsigned char *prev = NULL;
        char prev_title[1024] = "";
        bool prev_inspect = false;
        int prev_layer = -1, prev_pos = -1, prev_head = -1;
        for (int b = 0; b < l.n_beats; b++) {
            cr_assert_eq(lesson_player_goto(&p, b, &err), KV_OK, "%s: %s", lessons[i], err.msg);
            View v;
            view_init(&v);
            lesson_player_view(&p, &v);
            char caption[3200];
            snprintf(caption, sizeof caption, "%s %s", p.title, p.text);
            unsigned char *now = beat_picture(&s, v);
            // Intended: beats that read one inspector panel part by part (query, key, scores,
            // weights, output of one cell at one step) keep its picture while the caption moves on
            const bool same_panel = v.inspect && prev_inspect && v.inspect_layer == prev_layer &&
                                    v.inspect_pos == prev_pos && v.inspect_head == prev_head;
            prev_inspect = v.inspect, prev_layer = v.inspect_layer, prev_pos = v.inspect_pos;
            prev_head = v.inspect_head;
            if (prev && !same_panel) {
                long apart = pixels_apart(prev, now);
                if (apart <= BEAT_W * BEAT_H / 500) {
                    cr_log_error("%s: beat %d (\"%s\") shows the picture of beat %d (\"%s\"): "
                                 "%ld pixels differ",
                                 lessons[i], b + 1, p.title, b, prev_title, apart);
                    repeats++;
                }
            }
            free(prev);
            prev = now;
            snprintf(prev_title, sizeof prev_title, "%s", p.title);
            const StepRecord *r = session_last(&s);
            if (r && (says(caption, "sampling") || says(caption, "draws from"))) {
                sampling_beats++;
                cr_assert_gt(r->temperature, 0, "%s: beat %d is about sampling at T 0", lessons[i],
                             b + 1);
                cr_assert(r->n_top > 1 && r->top[0].prob < 0.995f,
                          "%s: beat %d (\"%s\") is about sampling but shows a %.1f%% candidate",
                          lessons[i], b + 1, p.title, 100.0 * r->top[0].prob);
            }
            beats_seen++;
        }
        free(prev);
        lesson_player_free(&p);
        session_free(&s);
        model_free(&m);
        tokenizer_free(&t);
        lesson_free(&l);
        free(lessons[i]);
    }
    free(lessons);
    cr_log_info("%d beats of %d lessons, %d about sampling", beats_seen, n, sampling_beats);
    cr_assert_gt(sampling_beats, 0, "no beat about sampling was checked");
    cr_assert_eq(repeats, 0, "%d beats repeat the picture before them", repeats);
}

// ----------------------------------------------------------------------------------------------
// glossary TERM and view sampling

// A glossary caption: the parser keeps the term, lesson_bind_glossary fills in the entry, the
// player shows it as the beat's caption; lesson_check refuses an unbound one.
Test(lesson, glossary_caption_and_sampling_view) {
    const char *text = "preset narrative\nstep 1\nview sampling\nglossary Prefill\nbeat\n"
                       "caption After\nbeat\n";
    Lesson l;
    KvError err = {0};
    cr_assert_eq(lesson_parse(&l, PATH, text, strlen(text), presets, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(l.cmds[2].op, LESSON_VIEW);
    cr_assert_eq(l.cmds[2].n, VIEW_SAMPLING);
    cr_assert_eq(l.cmds[3].op, LESSON_GLOSSARY);
    cr_assert_str_eq(l.cmds[3].str, "Prefill");
    cr_assert_null(l.cmds[3].def);
    Glossary g;
    cr_assert_eq(glossary_load(&g, "assets/glossary.txt", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_bind_glossary(&l, &g, &err), KV_OK, "%s", err.msg);
    const GlossaryEntry *e = glossary_find(&g, "prefill");
    cr_assert_str_eq(l.cmds[3].str, e->term, "the entry's own spelling");
    cr_assert_str_eq(l.cmds[3].def, e->short_text);
    // played: the caption is the entry
    Model m;
    Tokenizer t;
    Session s;
    ModelConfig c = tu_config(32, 64, 2, 4, 2, VOCAB, 128, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_OK, "%s", err.msg);
    LessonPlayer p;
    lesson_player_init(&p, &l, &s);
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    View v;
    view_init(&v);
    lesson_player_view(&p, &v);
    cr_assert_eq(v.kind, VIEW_SAMPLING);
    cr_assert_str_eq(v.caption_title, e->term);
    cr_assert_str_eq(v.caption_text, e->short_text);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    lesson_player_view(&p, &v);
    cr_assert_str_eq(v.caption_title, "After", "the entry belongs to its beat");
    glossary_free(&g);
    lesson_free(&l);
    // not bound: refused before it plays
    cr_assert_eq(lesson_parse(&l, PATH, text, strlen(text), presets, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg,
                     PATH ":4: glossary: 'Prefill' was not looked up (no glossary loaded)");
    lesson_free(&l);
    tu_session_close(&m, &t, &s);
}

// Each wrong use of `glossary`, one case each, with its line.
Test(lesson, glossary_bad_input_one_case_each) {
    expect_error("preset narrative\nglossary\nbeat\n",
                 PATH ":2: glossary: needs a term of the glossary");
    expect_error("preset narrative\ncaption A\nglossary token\nbeat\n",
                 PATH ":3: a second caption for one beat (the first is line 2; put a beat "
                      "between them)");
    expect_error("preset narrative\nglossary token\ntext More words.\nbeat\n",
                 PATH ":3: text after glossary (line 2): the entry's definition is this beat's "
                      "caption text");
    expect_error("preset narrative\nbeat\nglossary token\n",
                 PATH ":3: glossary without a beat: it would never be shown (add `beat` after it)");
    expect_error("preset narrative\nglossary "
                 "an extremely long term that nobody would ever write in a glossary at all\nbeat\n",
                 PATH ":2: glossary: 'an extremely long term that nobody would ever write in a "
                      "glossary at all' is too long to be a term");
    // an unknown term: when the glossary is there to say so
    Lesson l;
    KvError err = {0};
    const char *text = "preset narrative\nglossary banana\nbeat\n";
    cr_assert_eq(lesson_parse(&l, PATH, text, strlen(text), presets, &err), KV_OK, "%s", err.msg);
    Glossary g;
    cr_assert_eq(glossary_load(&g, "assets/glossary.txt", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_bind_glossary(&l, &g, &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, PATH ":2: glossary: 'banana' is not in the glossary (kvscope "
                                   "glossary lists every term)");
    glossary_free(&g);
    lesson_free(&l);
}

// `kvscope lesson` refuses an unknown glossary term with one line and status 2, and checks the
// shipped lesson that uses glossary captions and the sampling view.
Test(lesson, glossary_command_line) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir();
    char *bad = tu_join(dir, "bad.lesson");
    const char *text = "preset fact\nstep 1\nglossary banana\nbeat\n";
    cr_assert(tu_write_file(bad, text, strlen(text)));
    char *argv[] = {(char *)tu_kvscope_bin(), "lesson", bad, "--check", NULL};
    TuRun r;
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert_eq(tu_count_lines(r.err), 1, "%s", r.err);
    cr_assert(strncmp(r.err, "kvscope: ", 9) == 0 && strstr(r.err, ":3: glossary: 'banana' is not"),
              "%s", r.err);
    tu_run_free(&r);
    char *good[] = {(char *)tu_kvscope_bin(), "lesson", "lessons/10-choosing-the-next-token.lesson",
                    "--check", NULL};
    cr_assert(tu_run(good, 60, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    free(bad);
    tu_rmtree(dir);
}
