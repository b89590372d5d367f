// cmd_glossary.c — `kvscope glossary [TERM]`: every term the picture uses with its definition,
// or one term's entry in full. The text is assets/glossary.txt (src/view/glossary.c parses it).
#include "app/app.h"
#include "view/view.h"

#include <stdio.h>
#include <string.h>

// Prints `text` wrapped at `width` columns, each line indented by `indent` spaces.
static void wrapped(const char *text, int indent, int width) {
    int col = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (col > indent && col + 1 + (int)n > width) {
            putchar('\n');
            col = 0;
        }
        if (col == 0) {
            printf("%*s", indent, "");
            col = indent;
        } else {
            putchar(' ');
            col++;
        }
        fwrite(p, 1, n, stdout);
        col += (int)n; // UTF-8 counts a little wide: lines only come out shorter
        p += n;
    }
    if (col > 0)
        putchar('\n');
}

static void entry(const GlossaryEntry *e, bool full) {
    printf("%s", e->term);
    if (e->also)
        printf("  (also: %s)", e->also);
    printf("\n");
    wrapped(e->short_text, 4, 96);
    if (full && e->long_text) {
        printf("\n");
        wrapped(e->long_text, 4, 96);
    }
}

const char *app_glossary_path(char *buf, size_t cap) {
    return app_find_data("assets/glossary.txt", "glossary.txt", buf, cap);
}

int cmd_glossary(int argc, char **argv) {
    const char *term = NULL;
    bool full = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--long") == 0)
            full = true;
        else if (argv[i][0] == '-')
            return app_usage_error("glossary", "unknown option '%s' (see kvscope --help)", argv[i]);
        else if (term)
            return app_usage_error("glossary", "one term at a time ('%s' and '%s')", term, argv[i]);
        else
            term = argv[i];
    }
    char path[4096];
    Glossary g;
    KvError err = {0};
    if (glossary_load(&g, app_glossary_path(path, sizeof path), &err))
        return app_fail(&err);
    int st = 0;
    if (term) {
        const GlossaryEntry *e = glossary_find(&g, term);
        if (e)
            entry(e, true);
        else
            st = app_usage_error("glossary",
                                 "'%s' is not in the glossary (kvscope glossary "
                                 "lists every term)",
                                 term);
    } else {
        for (int i = 0; i < g.n; i++) {
            entry(&g.entries[i], full);
            if (i + 1 < g.n)
                printf("\n");
        }
    }
    glossary_free(&g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "kvscope: stdout: write failed\n");
        return 1;
    }
    return st;
}
