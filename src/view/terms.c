// terms.c — which glossary term each label of the picture stands for, where its words alone do
// not say it (glossary_label finds the others by the words they contain). The text sink reports
// the term with every text (SceneText.term), so the window's hit test knows what is under the
// pointer and a test can check that every term the picture names is in the glossary.
//
// What is not here: the glossary itself (glossary.c, assets/glossary.txt), drawing.
#include "view/scene_internal.h"

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
    // the heatmap and the pointer
    {"\xe2\x97\x80 write head", "write head"},
    {"attention from the write head", "attention weight"},
};

const char *scene_label_term(const char *text) {
    if (!text)
        return NULL;
    for (size_t i = 0; i < sizeof label_terms / sizeof label_terms[0]; i++)
        if (strncmp(text, label_terms[i].prefix, strlen(label_terms[i].prefix)) == 0)
            return label_terms[i].term;
    return NULL;
}

const char *scene_label_term_at(int i) {
    return i >= 0 && (size_t)i < sizeof label_terms / sizeof label_terms[0] ? label_terms[i].term
                                                                            : NULL;
}
