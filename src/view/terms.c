// terms.c — which glossary term each label of the picture stands for, where its words alone do
// not say it (glossary_label finds the others by the words they contain). The text sink reports
// the term with every text (SceneText.term), so the window's hit test knows what is under the
// pointer and a test can check that every term the picture names is in the glossary.
//
// What is not here: the glossary itself (glossary.c, assets/glossary.txt), drawing.
#include "view/scene_internal.h"

#include <ctype.h>
#include <string.h>

// A label starting with `prefix` stands for `term`. The first match wins: longer prefixes first.
static const struct {
    const char *prefix, *term;
} label_terms[] = {
    // the phase banner and the mode badge
    {"READY", "prefill"},
    {"one new token", "decode"},
    {"all ", "no cache"},
    {"keys and values kept", "KV cache"},
    {"everything recomputed", "no cache"},
    {"next step: cache", "mode"},
    // the counters
    {"mode", "mode"},
    {"FLOPs this step", "FLOP"},
    {"FLOPs total", "FLOP"},
    {"length / context", "context"},
    {"cache growth", "bytes per token"},
    {"saved ", "KV cache"},
    {"none kept", "no cache"},
    {"max logit diff", "drift"},
    {"not measured", "drift"},
    // the memory view
    {"weights (", "parameters"},
    {"keys and values in ", "bytes per token"},
    {"KV cache of ", "KV cache"},
    // the sampling view
    {"SAMPLING", "sampling"},
    {"after \xe2\x80\x9c", "temperature"},
    {"kept: ", "probability mass"},
    {"\xe2\x96\xb2 ", "random number"},
    {"The engine picked", "sampling"},
    {"No random number", "greedy"},
    {"This step was greedy", "greedy"},
    // the callouts of an annotated picture (annotate.c)
    {"tokens (prompt", "token"},
    {"KV cache: one", "KV cache"},
    {"beams: ", "beam"},
    {"phase: ", "step"},
    {"counters: ", "counter"},
    {"chart: ", "chart"},
    {"next token: ", "candidate"},
    {"legend: ", "legend"},
    // the inspector (inspect.c)
    {"Inside attention", "attention"},
    {"score = q", "score"},
    {"output", "head output"},
    {"every position read", "attention weight"},
    {"no numbers for this step", "step"},
    {"position ", "position"},
    // the split screen (split.c)
    {"Without the cache", "no cache"},
    {"time so far", "step time"},
    {"the same tokens on both", "drift"},
    {"different tokens on both", "drift"},
    // the pool view (pool.c)
    {"The pool:", "pool"},
    {"Block tables", "block table"},
    {"\xe2\x86\x91 block table", "block table"},
    {"Paged:", "page"},
    {"Contiguous:", "contiguous preallocation"},
    {"Serving ", "batch"},
    {"Every request", "request"},
    {"No request", "request"},
    {"preempted (total)", "preemption"},
    {"blocks used", "pool"},
    {"blocks free", "pool"},
    {"free block", "pool"},
    {"shared block", "prefix sharing"},
    {"paged waste", "fragmentation"},
    {"contiguous ", "contiguous preallocation"},
    {"tokens this step", "token"},
    {"tokens of a request", "request"},
    {"FLOPs saved by sharing", "prefix sharing"},
    {"slots not filled", "slot"},
    {"reserved, no token", "fragmentation"},
    // the glossary panel
    {"GLOSSARY", "glossary"},
    // the heatmap and the pointer
    {"\xe2\x97\x80 write head", "write head"},
    {"attention from the write head", "attention weight"},
};

// A request's sequence as the pool view names it: r<request>.<sample>.
static bool request_name(const char *t) {
    if (*t++ != 'r' || !isdigit((unsigned char)*t))
        return false;
    while (isdigit((unsigned char)*t))
        t++;
    if (*t++ != '.' || !isdigit((unsigned char)*t))
        return false;
    while (isdigit((unsigned char)*t))
        t++;
    return *t == '\0';
}

// A count as a counter's value: "3 of 5".
static bool count_of(const char *t) {
    const char *of = strstr(t, " of ");
    if (!of || !isdigit((unsigned char)*t))
        return false;
    for (const char *p = t; *p; p++)
        if (p == of)
            p += 3;
        else if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

const char *scene_label_term(const char *text) {
    if (!text)
        return NULL;
    if (request_name(text))
        return "request";
    if (count_of(text))
        return "counter";
    for (size_t i = 0; i < sizeof label_terms / sizeof label_terms[0]; i++)
        if (strncmp(text, label_terms[i].prefix, strlen(label_terms[i].prefix)) == 0)
            return label_terms[i].term;
    return NULL;
}

const char *scene_label_term_at(int i) {
    return i >= 0 && (size_t)i < sizeof label_terms / sizeof label_terms[0] ? label_terms[i].term
                                                                            : NULL;
}
