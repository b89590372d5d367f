// test_project.c — the projection onto published models (src/sim/project.c): every row of the
// table against the formula of its attention kind and the shape rules of its kind, three models
// against bytes computed by hand, the caps of a model's own window and of a retention policy,
// quantized bytes with their scales, sequences that fit, and `kvscope info --project`.
#include "util/testutil.h"
#include "lesson/lesson.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(project, .fini = tu_leak_check);

static const PublishedModel *find(const char *name) {
    const PublishedModel *m = project_find(name);
    cr_assert_not_null(m, "%s is not in the table", name);
    return m;
}

Test(project, every_row_follows_its_attention_kind) {
    cr_assert_geq(n_published_models, 14);
    for (int i = 0; i < n_published_models; i++) {
        const PublishedModel *m = &published_models[i];
        cr_assert(m->name && m->source && strlen(m->source) > 10, "row %d: name and source", i);
        cr_assert_gt(m->layers, 0, "%s", m->name);
        cr_assert_gt(m->context, 0, "%s", m->name);
        cr_assert_gt(m->params, 1e8, "%s", m->name);
        uint64_t want;
        switch (m->attn) {
        case PROJECT_ATTN_MHA:
            cr_assert_eq(m->kv_heads, m->heads, "%s: MHA has a key/value head per query head",
                         m->name);
            break;
        case PROJECT_ATTN_GQA:
            cr_assert(m->kv_heads > 1 && m->kv_heads < m->heads && m->heads % m->kv_heads == 0,
                      "%s: GQA groups query heads evenly", m->name);
            break;
        case PROJECT_ATTN_MQA:
            cr_assert_eq(m->kv_heads, 1, "%s", m->name);
            break;
        case PROJECT_ATTN_MLA:
            cr_assert(m->mla_latent > 0 && m->mla_rope > 0, "%s: MLA caches a latent", m->name);
            break;
        }
        if (m->attn == PROJECT_ATTN_MLA) {
            want = (uint64_t)m->layers * (uint64_t)(m->mla_latent + m->mla_rope);
        } else {
            cr_assert_eq(m->heads * m->head_size, m->dim, "%s: H x HS = D", m->name);
            want = 2ull * m->layers * m->kv_heads * m->head_size;
        }
        cr_assert_eq(project_values_per_token(m), want, "%s", m->name);
        ProjectCache pc;
        project_cache_default(&pc);
        cr_assert_float_eq(project_bytes_per_token(m, &pc), want * 2.0, 1e-6, "%s", m->name);
    }
}

// Bytes per token worked out by hand from the published configs, at 16 bits a value.
Test(project, three_models_by_hand) {
    ProjectCache pc;
    project_cache_default(&pc);
    // Llama-2-7B: 2 (K and V) x 32 layers x 32 kv heads x 128 x 2 bytes = 512 KiB a token
    cr_assert_float_eq(project_bytes_per_token(find("Llama-2-7B"), &pc), 524288.0, 1e-6);
    // 100,000 tokens: 52.4 GB (the seeds' "50 GB")
    cr_assert_float_eq(project_kv_bytes(find("Llama-2-7B"), &pc, 100000), 52428800000.0, 1.0);
    // Llama-3-8B: 2 x 32 x 8 x 128 x 2 = 128 KiB (grouped-query: a quarter of Llama-2-7B)
    cr_assert_float_eq(project_bytes_per_token(find("llama-3-8b"), &pc), 131072.0, 1e-6);
    // DeepSeek-V3: 61 layers x (512 latent + 64 rope) x 2 bytes = 70,272 bytes
    cr_assert_float_eq(project_bytes_per_token(find("DeepSeek-V3"), &pc), 70272.0, 1e-6);
    // Llama-2-70B: 2 x 80 x 8 x 128 x 2 = 327,680 bytes
    cr_assert_float_eq(project_bytes_per_token(find("Llama-2-70B"), &pc), 327680.0, 1e-6);
    cr_assert_null(project_find("GPT-5"));
}

Test(project, windows_and_policies_cap_the_positions) {
    ProjectCache pc;
    project_cache_default(&pc);
    const PublishedModel *mistral = find("Mistral-7B"), *llama = find("Llama-3-8B");
    cr_assert_eq(project_positions(mistral, &pc, 1000), 1000u);
    cr_assert_eq(project_positions(mistral, &pc, 100000), 4096u, "its own sliding window");
    cr_assert_float_eq(project_kv_bytes(mistral, &pc, 100000), 4096.0 * 131072.0, 1.0);
    cr_assert_eq(project_positions(llama, &pc, 100000), 100000u, "no window of its own");
    pc.max_positions = 256; // e.g. sinks:4,252
    cr_assert_eq(project_positions(llama, &pc, 100000), 256u);
    cr_assert_eq(project_positions(mistral, &pc, 100000), 256u);
    cr_assert_eq(project_positions(llama, &pc, 100), 100u);
}

Test(project, quantized_values_and_their_scales) {
    const PublishedModel *m = find("Llama-2-7B");
    ProjectCache pc;
    project_cache_default(&pc);
    pc.value_bits = 4;
    pc.row_overhead_bytes = 8; // int4: a float scale and a float minimum per row of HS values
    // 262,144 values at half a byte + 2 x 32 x 32 rows x 8 bytes
    cr_assert_float_eq(project_bytes_per_token(m, &pc), 131072.0 + 16384.0, 1e-6);
    cr_assert_eq(project_rows_per_token(m), 2048u);
    cr_assert_eq(project_rows_per_token(find("DeepSeek-V3")), 61u);
}

Test(project, sequences_that_fit_beside_the_weights) {
    ProjectCache pc;
    project_cache_default(&pc);
    const PublishedModel *m = find("Llama-2-7B");
    // 80 GB - 13.48 GB of weights = 66.52 GB; a 4096-token cache is 2 GiB: 30 of them
    cr_assert_eq(project_sequences_fit(m, &pc, 4096, 80e9), 30);
    cr_assert_eq(project_sequences_fit(find("Llama-2-70B"), &pc, 4096, 80e9), 0,
                 "the weights alone do not fit");
    cr_assert_eq(project_sequences_fit(m, &pc, 0, 80e9), -1, "an empty cache: no bound");
}

// ----------------------------------------------------------------------------------------------
// kvscope info --project

static void run_info(TuRun *r, const char *const *extra, const char *dir) {
    char *model = tu_join(dir, "model.bin"), *tok = tu_join(dir, "tok.bin");
    ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 32, false);
    KvError err = {0};
    cr_assert_eq(tu_write_random_checkpoint(model, &c, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_write_tokenizer(tok, 400, &err), KV_OK, "%s", err.msg);
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)tu_kvscope_bin();
    argv[n++] = "info";
    argv[n++] = "--model";
    argv[n++] = model;
    argv[n++] = "--tokenizer";
    argv[n++] = tok;
    for (int i = 0; extra[i] && n < 15; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    cr_assert(tu_run(argv, 60, r));
    free(model), free(tok);
}

Test(project, info_project_prints_the_table) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir();
    TuRun r;
    run_info(&r, (const char *[]){"--project", NULL}, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "at_131072") != NULL, "%s", r.out);
    for (int i = 0; i < n_published_models; i++)
        cr_assert(strstr(r.out, published_models[i].name) != NULL, "%s missing",
                  published_models[i].name);
    const char *row = strstr(r.out, "Llama-2-7B");
    cr_assert(row && strstr(row, "512 KiB") && strstr(row, "512 MiB"), "%s", r.out);
    tu_run_free(&r);

    run_info(&r, (const char *[]){"--project", "100000", NULL}, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    row = strstr(r.out, "Mistral-7B");
    cr_assert(row && strstr(row, "512 MiB"), "the window caps Mistral's cache:\n%s", r.out);
    cr_assert(strstr(r.out, "fit_80GB") != NULL, "%s", r.out);
    tu_run_free(&r);

    const char *bad[] = {"0", "-5", "1e3", "99999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        run_info(&r, (const char *[]){"--project", bad[k], NULL}, dir);
        if (bad[k][0] == '-') { // not a length: an unknown option
            cr_assert_eq(r.status, 2, "%s: %s", bad[k], r.err);
        } else {
            cr_assert_eq(r.status, 2, "--project %s: status %d", bad[k], r.status);
            cr_assert(strstr(r.err, "kvscope: --project: ") == r.err, "%s", r.err);
        }
        cr_assert_eq(tu_count_lines(r.err), 1, "%s", r.err);
        tu_run_free(&r);
    }
    tu_rmtree(dir);
}

// The memory view (src/view/memory.c) through render: every option, and bad ones refused.
Test(project, memory_view_renders) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir();
    char *png = tu_join(dir, "mem.png");
    char *model = tu_join(dir, "model.bin"), *tok = tu_join(dir, "tok.bin");
    ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 32, false);
    KvError err = {0};
    cr_assert_eq(tu_write_random_checkpoint(model, &c, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_write_tokenizer(tok, 400, &err), KV_OK, "%s", err.msg);
    const char *extra[][4] = {{NULL},
                              {"--project-length", "131072", NULL},
                              {"--project-model", "llama-2-7b", "--project-log", NULL}};
    for (int k = 0; k < 3; k++) {
        char *argv[24] = {(char *)tu_kvscope_bin(),
                          "render",
                          "--model",
                          model,
                          "--tokenizer",
                          tok,
                          "--prompt",
                          "once",
                          "--steps",
                          "2",
                          "--view",
                          "memory",
                          "--size",
                          "640x360",
                          "-o",
                          png};
        int n = 16;
        for (int i = 0; extra[k][i]; i++)
            argv[n++] = (char *)extra[k][i];
        argv[n] = NULL;
        TuRun r;
        cr_assert(tu_run(argv, 60, &r));
        cr_assert_eq(r.status, 0, "case %d: %s", k, r.err);
        tu_run_free(&r);
        cr_assert_eq(access(png, F_OK), 0);
        unlink(png);
    }
    const char *bad[][2] = {{"--project-model", "GPT-5"}, {"--project-length", "0"}};
    for (int k = 0; k < 2; k++) {
        char *argv[] = {(char *)tu_kvscope_bin(),
                        "render",
                        "--model",
                        model,
                        "--tokenizer",
                        tok,
                        "--prompt",
                        "once",
                        "--steps",
                        "1",
                        "--view",
                        "memory",
                        "-o",
                        png,
                        (char *)bad[k][0],
                        (char *)bad[k][1],
                        NULL};
        TuRun r;
        cr_assert(tu_run(argv, 60, &r));
        cr_assert_eq(r.status, 2, "%s %s: %s", bad[k][0], bad[k][1], r.err);
        cr_assert_eq(tu_count_lines(r.err), 1, "%s", r.err);
        cr_assert(strstr(r.err, bad[k][0]), "%s", r.err);
        tu_run_free(&r);
    }
    cr_assert_neq(access(png, F_OK), 0, "nothing written on bad input");
    free(png), free(model), free(tok);
    tu_rmtree(dir);
}

// The memory view's lesson commands: a published model by name, a length, the log scale.
Test(project, lesson_commands) {
    static const Preset presets[] = {{0}};
    const char *good = "prompt once\nstep 1\nview memory\nproject-model llama-2-7b\n"
                       "project-length 131072\nproject-log on\nbeat\n";
    Lesson l;
    KvError err = {0};
    cr_assert_eq(lesson_parse(&l, "x.lesson", good, strlen(good), presets, &err), KV_OK, "%s",
                 err.msg);
    lesson_free(&l);
    const char *bad[][2] = {
        {"prompt once\nproject-model GPT-5\nbeat\n", "x.lesson:2: project-model: 'GPT-5'"},
        {"prompt once\nproject-length -3\nbeat\n", "x.lesson:2: project-length"},
        {"prompt once\nproject-log maybe\nbeat\n", "x.lesson:2: project-log"},
    };
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(lesson_parse(&l, "x.lesson", bad[k][0], strlen(bad[k][0]), presets, &err),
                     KV_ERR_INPUT, "case %d", k);
        cr_assert(strstr(err.msg, bad[k][1]) == err.msg, "case %d: %s", k, err.msg);
    }
}

// The session's cache as the projection takes it: its precision's bits, its policy's budget.
Test(project, session_precision_and_policy_apply) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    ProjectCache pc;
    project_cache_of_session(&s, &pc);
    cr_assert_eq(pc.value_bits, 16);
    cr_assert_eq(pc.max_positions, 0);
    cr_assert_eq(session_set_kv(&s, KV_PRECISION_INT8, &err), KV_OK, "%s", err.msg);
    project_cache_of_session(&s, &pc);
    cr_assert_eq(pc.value_bits, 8);
    cr_assert_eq(pc.max_positions, 0, "a quantized cache keeps every position");
    cr_assert_eq(session_set_kv(&s, KV_PRECISION_F32, &err), KV_OK, "%s", err.msg);
    KvCacheKind k = KV_CACHE_DENSE;
    cr_assert_eq(kv_parse_retention("--cache", "sinks:4,12", &k, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_cache(&s, k, &err), KV_OK, "%s", err.msg);
    project_cache_of_session(&s, &pc);
    cr_assert_eq(pc.max_positions, 16);
    cr_assert_eq(pc.value_bits, 16);
    tu_session_close(&m, &t, &s);
}
