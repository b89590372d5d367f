// corpus.c — a seeded generator of kvscope's training text, in the three genres of the presets:
// children's stories, small Python-like functions, and short facts with questions and answers.
//
// The point of the corpus is the attention patterns it teaches. Stories name their characters
// once and then keep using the names; functions use their parameters in their bodies. Names and
// identifiers are mostly invented from syllables, so a model can only continue well by copying
// from the context (an induction head), not by memorising a list. Facts are the opposite: a
// small fixed set the model must memorise ("The capital of France is Paris").
//
// What it does not do: tokenise (bpe.c) or decide the train/validation streams (train_main.c).
// Names for evaluation are kept out by construction: every invented string whose hash falls in
// eval's residue class (corpus_reserved) is rejected and drawn again, and so are eval's fixed
// copy names; fact questions are held out by template instance the same way.
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/train.h"

// ----------------------------------------------------------------------------------------------
// StrBuf

void sb_free(StrBuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static void sb_reserve(StrBuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    b->p = kv_realloc(b->p, cap);
    b->cap = cap;
}

void sb_putn(StrBuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void sb_puts(StrBuf *b, const char *s) {
    sb_putn(b, s, strlen(s));
}

void sb_printf(StrBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(b, (size_t)k);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

// ----------------------------------------------------------------------------------------------
// Word pools

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NAME_CAP 48 // bytes for a name or identifier (4 syllables of UTF-8 and a suffix)
#define PICK(g, a) ((a)[trng_below(&(g)->rng, COUNT(a))])

static const char *const girl_names[] = {
    "Mia",    "Lily",   "Anna",  "Emma",   "Sara",  "Lucy",   "Rosa",  "Nora",   "Ella",   "Maya",
    "Ruby",   "Zoe",    "Ida",   "Lena",   "Tara",  "Nina",   "Eva",   "Olivia", "Sophie", "Grace",
    "Hannah", "Alice",  "Clara", "Daisy",  "Fiona", "Greta",  "Hazel", "Iris",   "Leah",   "Molly",
    "Nadia",  "Pia",    "Rita",  "Sofia",  "Tilda", "Una",    "Vera",  "Amara",  "Bella",  "Celia",
    "Delia",  "Elena",  "Flora", "Gemma",  "Helen", "Isla",   "Kira",  "Luna",   "Mara",   "Nell",
    "Opal",   "Penny",  "Rhea",  "Stella", "Thea",  "Ursula", "Viola", "Yara",   "Ada",    "Beth",
    "Cora",   "Dora",   "Esme",  "Freya",  "Hilda", "Ines",   "Lara",  "Mina",   "Orla",   "Pearl",
    "Rina",   "Selma",  "Tess",  "Uma",    "Vita",  "Amy",    "Kate",  "Sue",    "Ann",    "May",
    "Eliza",  "Martha", "Edith",
};
static const char *const boy_names[] = {
    "Tom",    "Ben",   "Sam",   "Leo",    "Max",    "Finn",   "Jack",   "Noah",   "Liam",  "Oscar",
    "Hugo",   "Otto",  "Felix", "Theo",   "Ivan",   "Omar",   "Ravi",   "Kai",    "Eli",   "Adam",
    "Bruno",  "Carl",  "Dan",   "Emil",   "Fred",   "George", "Henry",  "Isaac",  "Karl",  "Louis",
    "Martin", "Nico",  "Paul",  "Rufus",  "Simon",  "Timo",   "Victor", "Arthur", "Basil", "Cyril",
    "Dennis", "Elmer", "Frank", "Gus",    "Harold", "Igor",   "Lars",   "Milo",   "Ned",   "Olaf",
    "Peter",  "Rolf",  "Silas", "Tobias", "Ulrich", "Vince",  "Alan",   "Bob",    "Colin", "David",
    "Edgar",  "Gil",   "Hans",  "Ian",    "Ken",    "Lou",    "Mark",   "Nils",   "Pat",   "Rob",
    "Ted",    "Tim",   "Vlad",  "Anton",  "Boris",  "Caleb",
};

// Syllables for invented names. None contains q, x, j or w (see the file comment).
static const char *const onsets[] = {
    "b",  "br", "d", "dr", "f", "fl", "g", "gr", "h",  "k",  "kr", "l",  "m",  "n",  "p",
    "pr", "r",  "s", "st", "t", "tr", "v", "z",  "th", "sh", "ch", "bl", "sl", "sn", "",
};
static const char *const vowels[] = {"a", "e",  "i",  "o",  "u",  "a", "e",  "i",
                                     "o", "ia", "ea", "ou", "ai", "y", "ee", "oo"};
static const char *const codas[] = {"",  "",   "",   "",   "n",  "r", "l",  "s",
                                    "m", "th", "nd", "rt", "ll", "k", "sh", "lt"};

static const char *const kingdoms[] = {"kingdom", "castle", "village", "forest",  "town", "valley",
                                       "garden",  "city",   "land",    "island",  "farm", "house",
                                       "cottage", "palace", "meadow",  "mountain"};
static const char *const place_adj[] = {
    "small",  "big", "quiet", "green", "faraway", "sunny",     "snowy", "busy",
    "little", "old", "happy", "dark",  "tiny",    "beautiful", "magic", "peaceful"};
static const char *const girl_roles[] = {"princess", "girl",  "queen", "little girl", "fairy",
                                         "farmer",   "baker", "witch", "mermaid",     "dancer"};
static const char *const boy_roles[] = {"prince", "boy",   "king",   "little boy", "knight",
                                        "farmer", "baker", "wizard", "fisherman",  "painter"};
static const char *const animals[] = {
    "fox",   "rabbit",   "bird",   "cat",  "dog",  "bear",  "owl",    "mouse",  "frog", "duck",
    "horse", "squirrel", "turtle", "deer", "lion", "puppy", "kitten", "dragon", "goat"};
static const char *const habits[] = {
    "walked to the river to get water",
    "sang a song to the birds",
    "looked out of the window at the hills",
    "played in the garden with a red ball",
    "fed the ducks by the pond",
    "picked flowers in the meadow",
    "helped her mother bake bread",
    "went for a walk in the forest",
    "read a big book of stories",
    "watered the plants in the garden",
    "ran to the top of the hill",
    "brushed the horses in the stable",
    "drew pictures of the sun and the sky",
    "counted the clouds in the sky",
    "danced in the big hall",
    "went to the market with a basket",
    "swam in the lake",
    "climbed the old tree behind the house",
    "woke up early and smiled at the sun",
    "played with a little wooden boat",
};
static const char *const objects[] = {
    "box",    "key",  "ball", "hat",  "book",  "ring",    "stone",  "shell", "map",
    "flower", "star", "kite", "cake", "apple", "feather", "lamp",   "coin",  "bell",
    "boat",   "doll", "egg",  "cup",  "bag",   "sock",    "letter", "crown", "mirror"};
static const char *const obj_adj[] = {"shiny",  "red",     "blue",   "golden", "tiny",  "big",
                                      "old",    "strange", "pretty", "soft",   "magic", "green",
                                      "yellow", "round",   "silver", "little", "heavy", "funny"};
static const char *const found_where[] = {"under a tree",  "in the grass",  "by the river",
                                          "in the sand",   "near the door", "on the path",
                                          "behind a rock", "in an old box", "under the bed",
                                          "in the snow",   "on the hill",   "in the garden"};
static const char *const problems[] = {
    "a big storm came and the wind was very strong",
    "the bridge over the river was broken",
    "the little %s could not find its way home",
    "it started to rain and everything got wet",
    "the %s was stuck in a tree",
    "a loud noise came from the dark forest",
    "the king lost his golden crown",
    "the baker had no flour to make bread",
    "the sun did not come out for three days",
    "the river was too deep to cross",
};
static const char *const feelings[] = {"happy",   "sad",   "scared",  "surprised", "tired",
                                       "excited", "proud", "curious", "brave",     "sleepy"};
static const char *const helps[] = {
    "built a little bridge out of sticks", "followed the stars to find the way",
    "shared the bread with everyone",      "sang a song until the storm was gone",
    "climbed up and helped it down",       "looked everywhere until they found it",
    "asked the wise old owl for help",     "made a warm fire and waited together",
    "carried the %s home in a basket",     "used the %s to open the old door",
};

// ----------------------------------------------------------------------------------------------
// Names and identifiers

// Letters for the "copy" variant's names: random consonant-vowel strings, with more entropy per
// letter than the syllable tables, so guessing a name's next letters pays less than copying it.
static const char consonants[] = "bcdfghklmnprstvz";
static const char vowel_letters[] = "aeiouy";

static void random_letters(CorpusGen *g, char *out, size_t cap, int n) {
    size_t k = 0;
    bool v = trng_below(&g->rng, 3) == 0; // start with a vowel a third of the time
    for (int i = 0; i < n && k + 1 < cap; i++, v = !v) {
        out[k++] = v ? vowel_letters[trng_below(&g->rng, sizeof vowel_letters - 1)]
                     : consonants[trng_below(&g->rng, sizeof consonants - 1)];
        if (!v && trng_below(&g->rng, 6) == 0 && k + 1 < cap) // a consonant pair now and then
            out[k++] = consonants[trng_below(&g->rng, sizeof consonants - 1)];
    }
    out[k] = 0;
}

// ----------------------------------------------------------------------------------------------
// Reserved names and any-letter names

static uint64_t fnv1a(const char *s, bool lower) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if (lower && c >= 'A' && c <= 'Z')
            c += 32;
        if (lower && p[0] == 0xC3 && p[1] >= 0x80 && p[1] <= 0x9E && p[1] != 0x97) {
            h = (h ^ 0xC3) * 0x100000001b3ULL; // À..Þ lowercased to à..þ
            c = p[1] + 0x20u;
            p++;
        }
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return h;
}

bool corpus_reserved(const char *s) {
    return (fnv1a(s, true) >> 29) % 8 == 5;
}

// A string the generator may use: not in eval's class and not containing a fixed eval name.
static bool usable(const char *s) {
    return !corpus_reserved(s) && eval_copy_name_found(s) == NULL;
}

// An identifier and its stem (before a suffix such as _len or 2) both usable.
static bool usable_ident(const char *s) {
    char stem[64];
    snprintf(stem, sizeof stem, "%s", s);
    char *u = strchr(stem, '_');
    if (u)
        *u = 0;
    size_t n = strlen(stem);
    while (n > 1 && stem[n - 1] >= '0' && stem[n - 1] <= '9')
        stem[--n] = 0;
    return usable(s) && usable(stem);
}

// The variants that keep eval's names and questions out (the original two predate that and
// stay byte for byte what they were, so the models made from them can be made again).
static bool reserves(const CorpusGen *g) {
    return g->variant >= CORPUS_INDUCT;
}

// The variants whose names and identifiers come from any letters (induct, and drill: induct's
// text in a mix with more facts and functions).
static bool any_letters(const CorpusGen *g) {
    return g->variant == CORPUS_INDUCT || g->variant == CORPUS_DRILL;
}

static const char any_consonants[] = "bcdfghjklmnpqrstvwxz";
static const char *const clusters[] = {"qu", "kw", "zh", "th", "sh", "ch", "br", "tr", "gr", "pl",
                                       "st", "sk", "wr", "dj", "ts", "vl", "ph", "gw", "xh", "sv"};
static const char *const accented[] = {"é", "è", "ê", "ë", "á", "à", "â", "ä", "å",
                                       "í", "ï", "ó", "ô", "ö", "ø", "ú", "ü", "ý"};
static const char *const accented_cons[] = {"ñ", "ç"};

static void any_pick(uint64_t *rng, const char *const *a, size_t n, char *out, size_t cap) {
    strncat(out, a[trng_below(rng, (uint32_t)n)], cap - strlen(out) - 1);
}

static void any_letter(uint64_t *rng, const char *set, char *out, size_t cap) {
    char c[2] = {set[trng_below(rng, (uint32_t)strlen(set))], 0};
    strncat(out, c, cap - strlen(out) - 1);
}

void corpus_any_name(uint64_t *rng, int syllables, bool capital, char *out, size_t cap) {
    out[0] = 0;
    for (int i = 0; i < syllables; i++) {
        uint32_t r = trng_below(rng, 20);
        if (r < 12)
            any_letter(rng, any_consonants, out, cap);
        else if (r < 16)
            any_pick(rng, clusters, COUNT(clusters), out, cap);
        else if (r < 19 && i == 0)
            ; // a name may start with a vowel
        else if (r < 19)
            any_letter(rng, any_consonants, out, cap);
        else
            any_pick(rng, accented_cons, COUNT(accented_cons), out, cap);
        if (trng_below(rng, 7) == 0)
            any_pick(rng, accented, COUNT(accented), out, cap);
        else
            any_letter(rng, "aeiouy", out, cap);
        if (trng_below(rng, 6) == 0)
            any_letter(rng, "aeiou", out, cap);
        if (trng_below(rng, 3) == 0)
            any_letter(rng, any_consonants, out, cap);
    }
    if (strlen(out) < 3)
        any_letter(rng, any_consonants, out, cap);
    unsigned char *u = (unsigned char *)out;
    if (capital && u[0] >= 'a' && u[0] <= 'z')
        u[0] = (unsigned char)(u[0] - 32);
    else if (capital && u[0] == 0xC3 && u[1] >= 0xA0 && u[1] <= 0xBE && u[1] != 0xB7)
        u[1] = (unsigned char)(u[1] - 0x20);
}

static void invent_name_once(CorpusGen *g, char *out, size_t cap);

// An invented name the generator may use (drawn again while reserved).
static void invent_name(CorpusGen *g, char *out, size_t cap) {
    do {
        invent_name_once(g, out, cap);
    } while (reserves(g) && !usable(out));
}

static void invent_name_once(CorpusGen *g, char *out, size_t cap) {
    if (any_letters(g) && trng_below(&g->rng, 10) < 7) {
        corpus_any_name(&g->rng, 1 + (int)trng_below(&g->rng, 4), true, out, cap);
        return;
    }
    if ((g->variant == CORPUS_COPY || any_letters(g)) && trng_below(&g->rng, 2) == 0) {
        random_letters(g, out, cap, 4 + (int)trng_below(&g->rng, 4));
        out[0] = (char)(out[0] - 'a' + 'A');
        return;
    }
    int syl = 2 + (int)trng_below(&g->rng, 3) / 2; // 2 or 3 syllables (2 more often)
    out[0] = 0;
    for (int i = 0; i < syl; i++) {
        strncat(out, PICK(g, onsets), cap - strlen(out) - 1);
        strncat(out, PICK(g, vowels), cap - strlen(out) - 1);
        if (i == syl - 1 || trng_below(&g->rng, 3) == 0)
            strncat(out, PICK(g, codas), cap - strlen(out) - 1);
    }
    if (strlen(out) < 3)
        strncat(out, "na", cap - strlen(out) - 1);
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
}

// A character's name: invented 60% of the time (80% in the copy variant, 85% in the induct
// variant), else from the list for the gender.
static void character_name(CorpusGen *g, bool girl, char *out, size_t cap) {
    bool invented;
    if (reserves(g)) // 85% invented in the induct variant, 60% in the held-out basic one
        invented = trng_below(&g->rng, 20) < (any_letters(g) ? 17u : 12u);
    else // the original variants' draw
        invented = trng_below(&g->rng, 10) < (g->variant == CORPUS_COPY ? 8u : 6u);
    if (invented) {
        invent_name(g, out, cap);
    } else {
        const char *n = girl ? PICK(g, girl_names) : PICK(g, boy_names);
        snprintf(out, cap, "%s", n);
    }
}

static const char *const ident_words[] = {
    "width",  "height",   "length", "size",   "count",  "total",   "value",  "price",  "rate",
    "name",   "items",    "item",   "index",  "start",  "end",     "step",   "score",  "speed",
    "time",   "distance", "base",   "side",   "radius", "left",    "right",  "top",    "bottom",
    "x",      "y",        "z",      "a",      "b",      "n",       "m",      "data",   "text",
    "word",   "line",     "key",    "result", "amount", "tax",     "cost",   "weight", "mass",
    "age",    "year",     "days",   "hours",  "first",  "second",  "low",    "high",   "limit",
    "factor", "scale",    "offset", "depth",  "volume", "number",  "num",    "val",    "temp",
    "row",    "col",      "level",  "money",  "points", "balance", "width2", "delta",  "alpha",
    "beta",   "gamma",
};
static const char *const ident_suffix[] = {"",       "",       "",      "_len", "_count", "_size",
                                           "_total", "_value", "_rate", "_num", "_max",   "_min",
                                           "2",      "_a",     "_b",    "_id"};

// A parameter name: a real word 40% of the time, else invented (lowercase syllables, with an
// optional suffix). Distinct from the names in `avoid` (n of them).
static void param_name(CorpusGen *g, char *out, size_t cap, char avoid[][NAME_CAP], int n) {
    for (int tries = 0; tries < 50; tries++) {
        uint32_t r = trng_below(&g->rng, 10);
        bool word = r < (g->variant == CORPUS_BASIC || g->variant == CORPUS_HELDOUT ? 4u : 2u);
        if (word) {
            snprintf(out, cap, "%s", PICK(g, ident_words));
        } else if (any_letters(g) && r < 8) {
            corpus_any_name(&g->rng, 1 + (int)trng_below(&g->rng, 3), false, out, cap);
            strncat(out, PICK(g, ident_suffix), cap - strlen(out) - 1);
        } else if (g->variant == CORPUS_COPY && r < 6) {
            random_letters(g, out, cap, 2 + (int)trng_below(&g->rng, 5));
            strncat(out, PICK(g, ident_suffix), cap - strlen(out) - 1);
        } else {
            char s[40] = "";
            int syl = 1 + (int)trng_below(&g->rng, 2);
            for (int i = 0; i < syl; i++) {
                strncat(s, PICK(g, onsets), sizeof s - strlen(s) - 1);
                strncat(s, PICK(g, vowels), sizeof s - strlen(s) - 1);
                strncat(s, PICK(g, codas), sizeof s - strlen(s) - 1);
            }
            if (strlen(s) < 2)
                strncat(s, "n", sizeof s - strlen(s) - 1);
            snprintf(out, cap, "%s%s", s, PICK(g, ident_suffix));
        }
        bool clash = strcmp(out, "def") == 0 || strcmp(out, "return") == 0 ||
                     strcmp(out, "if") == 0 || strcmp(out, "for") == 0 || strcmp(out, "in") == 0 ||
                     strcmp(out, "is") == 0 || strcmp(out, "not") == 0 || strcmp(out, "and") == 0 ||
                     strcmp(out, "or") == 0 || strcmp(out, "print") == 0 ||
                     strcmp(out, "result") == 0 || strcmp(out, "total") == 0;
        for (int i = 0; i < n && !clash; i++)
            clash = strcmp(out, avoid[i]) == 0;
        clash = clash || (reserves(g) && !word && !usable_ident(out));
        if (!clash)
            return;
    }
}

// ----------------------------------------------------------------------------------------------
// Stories

typedef struct {
    char name[NAME_CAP];
    const char *role;
    const char *he, *him, *his; // she/her/her or he/him/his
    bool girl;
} Character;

static void make_character(CorpusGen *g, Character *c, const char *avoid) {
    c->girl = trng_below(&g->rng, 2) == 0;
    do {
        character_name(g, c->girl, c->name, sizeof c->name);
    } while (avoid && strcmp(avoid, c->name) == 0);
    c->role = c->girl ? PICK(g, girl_roles) : PICK(g, boy_roles);
    c->he = c->girl ? "she" : "he";
    c->him = c->girl ? "her" : "him";
    c->his = c->girl ? "her" : "his";
}

static void cap_puts(StrBuf *b, const char *s) { // s with its first letter capitalised
    size_t at = b->n;
    sb_puts(b, s);
    if (b->p[at] >= 'a' && b->p[at] <= 'z')
        b->p[at] = (char)(b->p[at] - 'a' + 'A');
}

// Writes a template where %N is the hero's name, %M the friend's, %h he/she, %H He/She,
// %i him/her, %s his/her, %A the friend's kind (an animal or a role), %o the object, %a an
// adjective of the object, %p the place, %b the place's adjective, %R the hero's role, %W where
// the object was found.
typedef struct {
    const Character *hero, *friend_;
    const char *kind, *object, *adj, *place, *padj;
    const char *where;
} Cast;

static void say(StrBuf *b, const Cast *c, const char *t) {
    for (const char *p = t; *p; p++) {
        if (*p != '%') {
            sb_putn(b, p, 1);
            continue;
        }
        p++;
        switch (*p) {
        case 'N':
            sb_puts(b, c->hero->name);
            break;
        case 'M':
            sb_puts(b, c->friend_->name);
            break;
        case 'h':
            sb_puts(b, c->hero->he);
            break;
        case 'H':
            cap_puts(b, c->hero->he);
            break;
        case 'i':
            sb_puts(b, c->hero->him);
            break;
        case 's':
            sb_puts(b, c->hero->his);
            break;
        case 'A':
            sb_puts(b, c->kind);
            break;
        case 'o':
            sb_puts(b, c->object);
            break;
        case 'a':
            sb_puts(b, c->adj);
            break;
        case 'p':
            sb_puts(b, c->place);
            break;
        case 'b':
            sb_puts(b, c->padj);
            break;
        case 'R':
            sb_puts(b, c->hero->role);
            break;
        case 'W':
            sb_puts(b, c->where ? c->where : "");
            break;
        default:
            sb_putn(b, p, 1);
            break;
        }
    }
}

static const char *const openings[] = {
    "Once upon a time, in a %a %p, there lived a %R named %N.",
    "Once upon a time, in a %a %p, there lived a %R named %N.",
    "Once upon a time, in a %a %p, there lived a %R named %N.",
    "Once upon a time, there was a %R named %N who lived in a %a %p.",
    "Long ago, in a %a %p, there lived a %R called %N.",
    "There once was a %R named %N. %H lived in a %a %p.",
    "%N was a %R who lived in a %a %p.",
};
static const char *const routines[] = {"Every morning, %N", "Every day, %N", "Every evening, %N",
                                       "Every morning, %N", "Each day, %N"};
static const char *const middles[] = {
    "One day, %N found a %a %o %W.",
    "One day, while %h was playing, %N saw a %a %o %W.",
    "One morning, %N woke up and saw a %a %o %W.",
};
static const char *const meetings[] = {
    "Then %N met a %A named %M.",
    "On the way, %N met a friendly %A called %M.",
    "Soon %N saw a %A. The %A's name was %M.",
    "Suddenly, a little %A named %M came to %N.",
};
static const char *const dialogues[] = {
    "\"Hello, %M,\" said %N. \"Will you help me?\"\n%M smiled and said, \"Yes, %N, I will help "
    "you.\"",
    "\"What is your name?\" asked %N.\n\"My name is %M,\" said the %A.",
    "%M said, \"%N, look at this %a %o!\"\n%N said, \"Wow, %M, it is so %a!\"",
    "\"Can we be friends?\" asked %M.\n\"Yes, %M,\" said %N. \"We can be friends.\"",
    "%N asked, \"%M, where did you find this %o?\"\n%M said, \"I found it %W, %N.\"",
};
static const char *const endings[] = {
    "From that day on, %N and %M were best friends.",
    "%N and %M were very happy. The end.",
    "%N smiled at %M and said, \"Thank you, %M.\"",
    "That night, %N went to sleep with a big smile. %H was so happy to have a friend like %M.",
    "And so %N and %M lived happily in the %b %p.",
    "%N learned that friends help each other. %N and %M played together every day.",
};

static void story(CorpusGen *g, StrBuf *b) {
    Character hero, friend_;
    make_character(g, &hero, NULL);
    make_character(g, &friend_, hero.name);
    bool animal_friend = trng_below(&g->rng, 2) == 0;
    char adj_place[64];
    snprintf(adj_place, sizeof adj_place, "%s", PICK(g, place_adj));
    Cast c = {&hero,
              &friend_,
              animal_friend ? PICK(g, animals) : friend_.role,
              PICK(g, objects),
              PICK(g, obj_adj),
              PICK(g, kingdoms),
              adj_place,
              NULL};
    c.where = PICK(g, found_where); // drawn after the cast, as the stream always had it

    // Opening: %R is the hero's role, %a here the place adjective.
    const char *op = PICK(g, openings);
    Cast oc = c;
    oc.adj = adj_place;
    say(b, &oc, op);
    sb_puts(b, " ");
    // Routine, 1 or 2 sentences.
    int nr = 1 + (int)trng_below(&g->rng, 2);
    for (int i = 0; i < nr; i++) {
        // the induct variant says the hero's pronoun more often: "Then she ..."
        if (any_letters(g) && i == 1)
            say(b, &c, trng_below(&g->rng, 2) ? "Then %h" : "After that, %h");
        else
            say(b, &c, PICK(g, routines));
        sb_puts(b, " ");
        const char *h = PICK(g, habits);
        // "her mother" in a habit follows the hero's gender
        if (!hero.girl && strstr(h, "her mother"))
            h = "helped his father in the garden";
        sb_puts(b, h);
        sb_puts(b, ". ");
    }
    if (trng_below(&g->rng, 2) == 0) {
        say(b, &c, "%N loved the %b %p. ");
    }
    // Middle: finding something.
    const char *m = PICK(g, middles);
    say(b, &c, m);
    sb_puts(b, " ");
    say(b, &c, trng_below(&g->rng, 2) ? "%N picked up the %o. " : "%H picked up the %o. ");
    if (any_letters(g) && trng_below(&g->rng, 2) == 0) {
        sb_printf(b, "%s felt very %s. ", hero.name, PICK(g, feelings));
        say(b, &c, "%H put the %o in %s pocket.\n\n");
    } else {
        sb_printf(b, "%s felt very %s.\n\n", hero.name, PICK(g, feelings));
    }
    // Meeting and dialogue.
    say(b, &c, PICK(g, meetings));
    sb_puts(b, " ");
    const char *d = PICK(g, dialogues);
    say(b, &c, d);
    sb_puts(b, "\n\n");
    // Problem and help.
    char tmp[160];
    snprintf(tmp, sizeof tmp, PICK(g, problems), c.kind);
    sb_puts(b, "But ");
    sb_puts(b, tmp);
    sb_puts(b, ". ");
    say(b, &c, trng_below(&g->rng, 2) ? "%N and %M " : "Together, %N and %M ");
    snprintf(tmp, sizeof tmp, PICK(g, helps), c.object);
    sb_puts(b, tmp);
    sb_puts(b, ". ");
    if (trng_below(&g->rng, 2) == 0)
        sb_printf(b, "%s was %s, but %s was %s too. ", hero.name, PICK(g, feelings), friend_.name,
                  PICK(g, feelings));
    char magic[160] = "";
    if ((g->variant == CORPUS_COPY && trng_below(&g->rng, 3) == 0) ||
        (any_letters(g) && trng_below(&g->rng, 2) == 0)) {
        // magic words: random-letter words said, then said again (pure copying)
        int nw = 2 + (int)trng_below(&g->rng, 3);
        for (int i = 0; i < nw; i++) {
            char w[NAME_CAP];
            do {
                if (any_letters(g))
                    corpus_any_name(&g->rng, 1 + (int)trng_below(&g->rng, 2), i == 0, w, sizeof w);
                else
                    random_letters(g, w, sizeof w, 3 + (int)trng_below(&g->rng, 4));
            } while (reserves(g) && !usable(w));
            if (i)
                strncat(magic, " ", sizeof magic - strlen(magic) - 1);
            strncat(magic, w, sizeof magic - strlen(magic) - 1);
        }
        if (magic[0] >= 'a' && magic[0] <= 'z')
            magic[0] = (char)(magic[0] - 'a' + 'A');
        sb_printf(b,
                  "\n\n%s taught %s the magic words: \"%s!\" %s said, \"%s!\" and the %s began "
                  "to glow. ",
                  friend_.name, hero.name, magic, hero.name, magic, c.object);
        sb_printf(b, "Then %s and %s said the magic words again: \"%s!\"\n", hero.name,
                  friend_.name, magic);
    }
    say(b, &c, PICK(g, endings));
    sb_puts(b, "\n");
}

// ----------------------------------------------------------------------------------------------
// Code

static const char *const fn_verbs[] = {
    "get",  "compute", "find", "make",   "calc",  "add",     "scale", "check", "count", "sum",
    "area", "mix",     "join", "update", "apply", "measure", "total", "build", "move",  "split"};
static const char *const fn_nouns[] = {
    "area",   "total",  "price",     "sum",     "score",   "size",   "volume", "speed",
    "cost",   "value",  "distance",  "product", "average", "max",    "min",    "ratio",
    "result", "length", "perimeter", "weight",  "balance", "points", "tax",    ""};

static void function_name(CorpusGen *g, char *out, size_t cap) {
    if (any_letters(g) && trng_below(&g->rng, 4) == 0) {
        do {
            corpus_any_name(&g->rng, 1 + (int)trng_below(&g->rng, 2), false, out, cap);
        } while (!usable(out));
        return;
    }
    int r = (int)trng_below(&g->rng, 6);
    const char *v = PICK(g, fn_verbs), *n = PICK(g, fn_nouns);
    if (r == 0 || !*n)
        snprintf(out, cap, "%s", v);
    else if (r == 1)
        snprintf(out, cap, "%s", n);
    else
        snprintf(out, cap, "%s_%s", v, n);
}

static const char *const binops[] = {"*", "+", "-", "*", "/", "*", "+"};

static void code_function(CorpusGen *g, StrBuf *b) {
    char fn[64];
    function_name(g, fn, sizeof fn);
    int np = 1 + (int)trng_below(&g->rng, 3);
    if (trng_below(&g->rng, 2) == 0)
        np = 2;
    char p[3][NAME_CAP];
    for (int i = 0; i < np; i++)
        param_name(g, p[i], sizeof p[i], p, i);
    sb_printf(b, "def %s(", fn);
    for (int i = 0; i < np; i++)
        sb_printf(b, "%s%s", i ? ", " : "", p[i]);
    int kind = (int)trng_below(&g->rng, 10);
    const char *op = PICK(g, binops);
    if (any_letters(g) && np < 3 && trng_below(&g->rng, 5) == 0) {
        // one line: "def add(a, b): return a + b"
        if (np == 1)
            sb_printf(b, "): return %s %s %s\n", p[0], op, kind < 5 ? p[0] : "1");
        else
            sb_printf(b, "): return %s %s %s\n", p[0], op, p[1]);
        return;
    }
    sb_puts(b, "):\n");
    if (np == 1) {
        switch (kind % 5) {
        case 0:
            sb_printf(b, "    return %s * %s\n", p[0], p[0]);
            break;
        case 1:
            sb_printf(b, "    return %s + 1\n", p[0]);
            break;
        case 2:
            sb_printf(b, "    print(%s)\n    return %s\n", p[0], p[0]);
            break;
        case 3:
            sb_printf(b, "    if %s > 0:\n        return %s\n    return 0 - %s\n", p[0], p[0],
                      p[0]);
            break;
        default:
            sb_printf(b,
                      "    total = 0\n    for item in %s:\n        total = total + item\n"
                      "    return total\n",
                      p[0]);
            break;
        }
    } else if (np == 2) {
        int i0 = (int)trng_below(&g->rng, 4) == 0 ? 1 : 0, i1 = 1 - i0;
        switch (kind) {
        case 0:
        case 1:
        case 2:
        case 3:
            sb_printf(b, "    return %s %s %s\n", p[i0], op, p[i1]);
            break;
        case 4:
        case 5:
            sb_printf(b, "    result = %s %s %s\n    return result\n", p[i0], op, p[i1]);
            break;
        case 6:
            sb_printf(b, "    if %s > %s:\n        return %s\n    return %s\n", p[0], p[1], p[0],
                      p[1]);
            break;
        case 7:
            sb_printf(b, "    total = %s * %s\n    print(total)\n    return total\n", p[i0], p[i1]);
            break;
        case 8:
            sb_printf(b, "    %s = %s %s %s\n    return %s\n", p[i0], p[i0], op, p[i1], p[i0]);
            break;
        default:
            sb_printf(b, "    return (%s %s %s) / 2\n", p[i0], op, p[i1]);
            break;
        }
    } else {
        const char *op2 = PICK(g, binops);
        switch (kind % 4) {
        case 0:
            sb_printf(b, "    return %s %s %s %s %s\n", p[0], op, p[1], op2, p[2]);
            break;
        case 1:
            sb_printf(b, "    result = %s %s %s\n    return result %s %s\n", p[0], op, p[1], op2,
                      p[2]);
            break;
        case 2:
            sb_printf(b, "    if %s > %s:\n        return %s %s %s\n    return %s\n", p[0], p[1],
                      p[0], op, p[2], p[1]);
            break;
        default:
            sb_printf(b, "    total = %s * %s\n    total = total + %s\n    return total\n", p[0],
                      p[1], p[2]);
            break;
        }
    }
}

static void code_document(CorpusGen *g, StrBuf *b) {
    int nf = 1 + (int)trng_below(&g->rng, 3);
    for (int i = 0; i < nf; i++) {
        if (i)
            sb_puts(b, "\n");
        code_function(g, b);
    }
}

// The copy variant's code document: functions, each sometimes followed by a call that repeats
// its (multi-token) name.
static void code_document_calls(CorpusGen *g, StrBuf *b) {
    int nf = 1 + (int)trng_below(&g->rng, 3);
    for (int i = 0; i < nf; i++) {
        if (i)
            sb_puts(b, "\n");
        size_t at = b->n + 4; // the name starts after "def "
        code_function(g, b);
        if (trng_below(&g->rng, 2) == 0) {
            const char *paren = strchr(b->p + at, '(');
            int args = 1;
            for (const char *p = paren; *p && *p != ')'; p++)
                args += *p == ',';
            sb_puts(b, "\nprint(");
            sb_putn(b, b->p + at, (size_t)(paren - (b->p + at)));
            sb_puts(b, "(");
            for (int k = 0; k < args; k++)
                sb_printf(b, "%s%d", k ? ", " : "", (int)trng_below(&g->rng, 20));
            sb_puts(b, "))\n");
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Facts

typedef struct {
    const char *country, *capital, *continent, *language;
} Country;

static const Country countries[] = {
    {"France", "Paris", "Europe", "French"},
    {"Germany", "Berlin", "Europe", "German"},
    {"Italy", "Rome", "Europe", "Italian"},
    {"Spain", "Madrid", "Europe", "Spanish"},
    {"Portugal", "Lisbon", "Europe", "Portuguese"},
    {"England", "London", "Europe", "English"},
    {"Ireland", "Dublin", "Europe", "English"},
    {"Greece", "Athens", "Europe", "Greek"},
    {"Austria", "Vienna", "Europe", "German"},
    {"Poland", "Warsaw", "Europe", "Polish"},
    {"Sweden", "Stockholm", "Europe", "Swedish"},
    {"Norway", "Oslo", "Europe", "Norwegian"},
    {"Finland", "Helsinki", "Europe", "Finnish"},
    {"Denmark", "Copenhagen", "Europe", "Danish"},
    {"Russia", "Moscow", "Europe", "Russian"},
    {"Egypt", "Cairo", "Africa", "Arabic"},
    {"Kenya", "Nairobi", "Africa", "Swahili"},
    {"Nigeria", "Abuja", "Africa", "English"},
    {"Morocco", "Rabat", "Africa", "Arabic"},
    {"Ghana", "Accra", "Africa", "English"},
    {"Japan", "Tokyo", "Asia", "Japanese"},
    {"China", "Beijing", "Asia", "Chinese"},
    {"India", "Delhi", "Asia", "Hindi"},
    {"Thailand", "Bangkok", "Asia", "Thai"},
    {"Vietnam", "Hanoi", "Asia", "Vietnamese"},
    {"Korea", "Seoul", "Asia", "Korean"},
    {"Turkey", "Ankara", "Asia", "Turkish"},
    {"Iran", "Tehran", "Asia", "Persian"},
    {"Canada", "Ottawa", "North America", "English"},
    {"Mexico", "Mexico City", "North America", "Spanish"},
    {"Cuba", "Havana", "North America", "Spanish"},
    {"Peru", "Lima", "South America", "Spanish"},
    {"Brazil", "Brasilia", "South America", "Portuguese"},
    {"Argentina", "Buenos Aires", "South America", "Spanish"},
    {"Chile", "Santiago", "South America", "Spanish"},
    {"Australia", "Canberra", "Australia", "English"},
};

typedef struct {
    const char *name, *kind, *legs, *home, *sound;
} Animal;

static const Animal animal_facts[] = {
    {"cat", "mammal", "four", "house", "meow"},  {"dog", "mammal", "four", "house", "woof"},
    {"cow", "mammal", "four", "farm", "moo"},    {"horse", "mammal", "four", "farm", "neigh"},
    {"duck", "bird", "two", "pond", "quack"},    {"owl", "bird", "two", "tree", "hoot"},
    {"hen", "bird", "two", "farm", "cluck"},     {"frog", "amphibian", "four", "pond", "croak"},
    {"snake", "reptile", "no", "grass", "hiss"}, {"fish", "fish", "no", "water", "blub"},
    {"sheep", "mammal", "four", "farm", "baa"},  {"lion", "mammal", "four", "savanna", "roar"},
    {"bee", "insect", "six", "hive", "buzz"},    {"spider", "spider", "eight", "web", "hiss"},
};

static const char *const science[] = {
    "Water boils at 100 degrees Celsius.",
    "Water freezes at 0 degrees Celsius.",
    "The sun is a star.",
    "The moon goes around the earth.",
    "The earth goes around the sun.",
    "Plants need water and light to grow.",
    "Ice is frozen water.",
    "The sky is blue on a clear day.",
    "A week has seven days.",
    "A year has twelve months.",
    "A day has twenty four hours.",
    "An hour has sixty minutes.",
    "Snow is cold and white.",
    "Fire is hot.",
    "Fish live in water.",
    "Birds have feathers and wings.",
    "The earth is round.",
    "Rain falls from clouds.",
    "Bees make honey.",
    "Cows give milk.",
};

// Yes/no science facts: stated in training always ("The sun is a star.", "The moon is not a
// star."), asked ("Q: Is the sun a star?") only for instances not held out.
typedef struct {
    const char *subject, *predicate;
    bool yes;
} ScienceYn;

static const ScienceYn science_yn[] = {
    {"the sun", "a star", true},
    {"the moon", "a star", false},
    {"the earth", "round", true},
    {"the earth", "flat", false},
    {"ice", "frozen water", true},
    {"ice", "hot", false},
    {"fire", "hot", true},
    {"fire", "cold", false},
    {"snow", "cold", true},
    {"snow", "hot", false},
    {"the sky", "blue", true},
    {"the sky", "green", false},
    {"a whale", "a fish", false},
    {"a bee", "an insect", true},
    {"a spider", "an insect", false},
    {"a bat", "a bird", false},
    {"a penguin", "a bird", true},
    {"a tomato", "a fruit", true},
    {"grass", "green", true},
    {"milk", "white", true},
    {"the sea", "salty", true},
    {"the moon", "made of cheese", false},
    {"water", "wet", true},
    {"a stone", "alive", false},
    {"a tree", "a plant", true},
    {"a cat", "a plant", false},
    {"the sun", "cold", false},
    {"a dog", "an animal", true},
    {"gold", "a metal", true},
    {"wood", "a metal", false},
    {"a week", "seven days long", true},
    {"an hour", "ten minutes long", false},
};

// Held-out question instances: kind (the question template) and its arguments hashed.
static bool instance_reserved(int kind, int a, int b) {
    char key[32];
    snprintf(key, sizeof key, "q%d:%d:%d", kind, a, b);
    return corpus_reserved(key);
}

static void science_answer(StrBuf *b, const ScienceYn *f, bool question) {
    char subj[48];
    snprintf(subj, sizeof subj, "%s", f->subject);
    subj[0] = (char)(subj[0] - 'a' + 'A');
    if (question)
        sb_printf(b, "Q: Is %s %s?\nA: %s, %s is %s%s.", f->subject, f->predicate,
                  f->yes ? "Yes" : "No", f->subject, f->yes ? "" : "not ", f->predicate);
    else
        sb_printf(b, "%s is %s%s.", subj, f->yes ? "" : "not ", f->predicate);
}

// The original variants' fact lines (no held-out questions).
static void fact_line_v0(CorpusGen *g, StrBuf *b) {
    const Country *c = &countries[trng_below(&g->rng, COUNT(countries))];
    const Animal *a = &animal_facts[trng_below(&g->rng, COUNT(animal_facts))];
    const Animal *o = &animal_facts[trng_below(&g->rng, COUNT(animal_facts))];
    switch (trng_below(&g->rng, 14)) {
    case 0:
    case 1:
    case 2:
        sb_printf(b, "The capital of %s is %s.", c->country, c->capital);
        break;
    case 3:
        sb_printf(b, "Q: What is the capital of %s?\nA: The capital of %s is %s.", c->country,
                  c->country, c->capital);
        break;
    case 4:
        sb_printf(b, "%s is the capital of %s.", c->capital, c->country);
        break;
    case 5:
        sb_printf(b, "%s is in %s. People in %s speak %s.", c->country, c->continent, c->country,
                  c->language);
        break;
    case 6: {
        const Country *d = &countries[trng_below(&g->rng, COUNT(countries))];
        bool yes = d == c;
        sb_printf(b, "Q: Is %s the capital of %s?\nA: %s, %s is %sthe capital of %s.", d->capital,
                  c->country, yes ? "Yes" : "No", d->capital, yes ? "" : "not ", c->country);
        if (!yes)
            sb_printf(b, " The capital of %s is %s.", c->country, c->capital);
        break;
    }
    case 7:
        sb_printf(b, "A %s is a %s. A %s has %s legs.", a->name, a->kind, a->name, a->legs);
        break;
    case 8:
        sb_printf(b, "Q: Is a %s a %s?\nA: %s, a %s is %sa %s.", a->name, o->kind,
                  strcmp(a->kind, o->kind) == 0 ? "Yes" : "No", a->name,
                  strcmp(a->kind, o->kind) == 0 ? "" : "not ", o->kind);
        break;
    case 9:
        sb_printf(b, "A %s says %s. A %s lives in a %s.", a->name, a->sound, a->name, a->home);
        break;
    case 10:
        sb_printf(b, "Q: How many legs does a %s have?\nA: A %s has %s legs.", a->name, a->name,
                  a->legs);
        break;
    case 11: {
        int x = (int)trng_below(&g->rng, 10), y = (int)trng_below(&g->rng, 10);
        sb_printf(b, "Q: What is %d plus %d?\nA: %d plus %d is %d.", x, y, x, y, x + y);
        break;
    }
    default:
        sb_puts(b, PICK(g, science));
        break;
    }
}

#define N_COUNTRIES (uint32_t) COUNT(countries)
#define N_ANIMALS (uint32_t) COUNT(animal_facts)

static void fact_line(CorpusGen *g, StrBuf *b) {
    if (!reserves(g)) {
        fact_line_v0(g, b);
        return;
    }
    uint32_t ci = trng_below(&g->rng, N_COUNTRIES), ai = trng_below(&g->rng, N_ANIMALS),
             oi = trng_below(&g->rng, N_ANIMALS);
    const Country *c = &countries[ci];
    const Animal *a = &animal_facts[ai];
    const Animal *o = &animal_facts[oi];
    // the drill variant draws seven more lines, all of the kinds eval asks about: sums stated
    // (twice, and once in a new template), sums asked, science asked and stated, capitals asked
    static const uint8_t drill_more[] = {14, 17, 11, 13, 12, 6, 3};
    uint32_t kind = trng_below(&g->rng, g->variant == CORPUS_DRILL ? 24 : 17);
    if (kind >= 17)
        kind = drill_more[kind - 17];
    switch (kind) {
    case 0:
    case 1:
    case 2:
        sb_printf(b, "The capital of %s is %s.", c->country, c->capital);
        break;
    case 3:
        while (instance_reserved(0, (int)ci, 0))
            ci = trng_below(&g->rng, N_COUNTRIES);
        c = &countries[ci];
        sb_printf(b, "Q: What is the capital of %s?\nA: The capital of %s is %s.", c->country,
                  c->country, c->capital);
        break;
    case 4:
        sb_printf(b, "%s is the capital of %s.", c->capital, c->country);
        break;
    case 5:
        sb_printf(b, "%s is in %s. People in %s speak %s.", c->country, c->continent, c->country,
                  c->language);
        break;
    case 6: {
        // the right capital half the time (a random pair is almost never right)
        uint32_t di = trng_below(&g->rng, 2) ? ci : trng_below(&g->rng, N_COUNTRIES);
        while (instance_reserved(1, (int)di, (int)ci)) {
            ci = trng_below(&g->rng, N_COUNTRIES);
            di = trng_below(&g->rng, 2) ? ci : trng_below(&g->rng, N_COUNTRIES);
        }
        c = &countries[ci];
        const Country *d = &countries[di];
        bool yes = d == c;
        sb_printf(b, "Q: Is %s the capital of %s?\nA: %s, %s is %sthe capital of %s.", d->capital,
                  c->country, yes ? "Yes" : "No", d->capital, yes ? "" : "not ", c->country);
        if (!yes)
            sb_printf(b, " The capital of %s is %s.", c->country, c->capital);
        break;
    }
    case 7:
        sb_printf(b, "A %s is a %s. A %s has %s legs.", a->name, a->kind, a->name, a->legs);
        break;
    case 8:
        while (instance_reserved(2, (int)ai, (int)oi)) {
            ai = trng_below(&g->rng, N_ANIMALS);
            oi = trng_below(&g->rng, N_ANIMALS);
        }
        a = &animal_facts[ai];
        o = &animal_facts[oi];
        sb_printf(b, "Q: Is a %s a %s?\nA: %s, a %s is %sa %s.", a->name, o->kind,
                  strcmp(a->kind, o->kind) == 0 ? "Yes" : "No", a->name,
                  strcmp(a->kind, o->kind) == 0 ? "" : "not ", o->kind);
        break;
    case 9:
        sb_printf(b, "A %s says %s. A %s lives in a %s.", a->name, a->sound, a->name, a->home);
        break;
    case 10:
        while (instance_reserved(3, (int)ai, 0))
            ai = trng_below(&g->rng, N_ANIMALS);
        a = &animal_facts[ai];
        sb_printf(b, "Q: How many legs does a %s have?\nA: A %s has %s legs.", a->name, a->name,
                  a->legs);
        break;
    case 11: {
        int x = (int)trng_below(&g->rng, 10), y = (int)trng_below(&g->rng, 10);
        while (instance_reserved(4, x, y)) {
            x = (int)trng_below(&g->rng, 10);
            y = (int)trng_below(&g->rng, 10);
        }
        sb_printf(b, "Q: What is %d plus %d?\nA: %d plus %d is %d.", x, y, x, y, x + y);
        break;
    }
    case 12:
        science_answer(b, &science_yn[trng_below(&g->rng, COUNT(science_yn))], false);
        break;
    case 13: {
        uint32_t si = trng_below(&g->rng, COUNT(science_yn));
        while (instance_reserved(5, (int)si, 0))
            si = trng_below(&g->rng, COUNT(science_yn));
        science_answer(b, &science_yn[si], true);
        break;
    }
    case 14: { // the sums stated, so a held-out question's answer is in the corpus
        int x = (int)trng_below(&g->rng, 10), y = (int)trng_below(&g->rng, 10);
        sb_printf(b, "%d plus %d is %d.", x, y, x + y);
        break;
    }
    case 17: { // the drill variant's other way of stating a sum
        int x = (int)trng_below(&g->rng, 10), y = (int)trng_below(&g->rng, 10);
        sb_printf(b, "If you add %d and %d, you get %d. So %d plus %d is %d.", x, y, x + y, x, y,
                  x + y);
        break;
    }
    default:
        sb_puts(b, PICK(g, science));
        break;
    }
}

int corpus_heldout_questions(CorpusQA **qa) {
    int cap = 512, n = 0;
    CorpusQA *q = kv_calloc((size_t)cap, sizeof *q);
    for (uint32_t ci = 0; ci < N_COUNTRIES; ci++) {
        const Country *c = &countries[ci];
        if (instance_reserved(0, (int)ci, 0) && n < cap) {
            q[n].kind = 0;
            snprintf(q[n].prompt, sizeof q->prompt,
                     "Q: What is the capital of %s?\nA: The capital of %s is", c->country,
                     c->country);
            snprintf(q[n++].expect, sizeof q->expect, " %s.", c->capital);
        }
        for (uint32_t di = 0; di < N_COUNTRIES; di++) {
            // the right pair and one wrong pair in six: the question's own mix is half yes
            if (!instance_reserved(1, (int)di, (int)ci) || n >= cap ||
                (di != ci && (di + ci) % 6 != 0))
                continue;
            q[n].kind = 1;
            snprintf(q[n].prompt, sizeof q->prompt,
                     "Q: Is %s the capital of %s?\nA:", countries[di].capital, c->country);
            snprintf(q[n++].expect, sizeof q->expect, " %s,", di == ci ? "Yes" : "No");
        }
    }
    for (uint32_t ai = 0; ai < N_ANIMALS; ai++) {
        const Animal *a = &animal_facts[ai];
        for (uint32_t oi = 0; oi < N_ANIMALS; oi++) {
            // the question names o's kind only, so it is held out when every animal of that kind
            // is (the generator draws again on a held-out pair); asked once per kind
            bool first = true, held = true;
            for (uint32_t k = 0; k < N_ANIMALS; k++) {
                if (strcmp(animal_facts[k].kind, animal_facts[oi].kind) != 0)
                    continue;
                first = first && k >= oi;
                held = held && instance_reserved(2, (int)ai, (int)k);
            }
            if (!first || !held || n >= cap)
                continue;
            q[n].kind = 2;
            snprintf(q[n].prompt, sizeof q->prompt, "Q: Is a %s a %s?\nA:", a->name,
                     animal_facts[oi].kind);
            snprintf(q[n++].expect, sizeof q->expect, " %s,",
                     strcmp(a->kind, animal_facts[oi].kind) == 0 ? "Yes" : "No");
        }
        if (instance_reserved(3, (int)ai, 0) && n < cap) {
            q[n].kind = 3;
            snprintf(q[n].prompt, sizeof q->prompt, "Q: How many legs does a %s have?\nA: A %s has",
                     a->name, a->name);
            snprintf(q[n++].expect, sizeof q->expect, " %s legs", a->legs);
        }
    }
    for (int x = 0; x < 10; x++)
        for (int y = 0; y < 10; y++)
            if (instance_reserved(4, x, y) && n < cap) {
                q[n].kind = 4;
                snprintf(q[n].prompt, sizeof q->prompt, "Q: What is %d plus %d?\nA: %d plus %d is",
                         x, y, x, y);
                snprintf(q[n++].expect, sizeof q->expect, " %d.", x + y);
            }
    for (uint32_t si = 0; si < COUNT(science_yn); si++)
        if (instance_reserved(5, (int)si, 0) && n < cap) {
            q[n].kind = 5;
            snprintf(q[n].prompt, sizeof q->prompt, "Q: Is %s %s?\nA:", science_yn[si].subject,
                     science_yn[si].predicate);
            snprintf(q[n++].expect, sizeof q->expect, " %s,", science_yn[si].yes ? "Yes" : "No");
        }
    *qa = q;
    return n;
}

static void fact_document(CorpusGen *g, StrBuf *b) {
    int n = 3 + (int)trng_below(&g->rng, 6);
    for (int i = 0; i < n; i++) {
        fact_line(g, b);
        sb_puts(b, "\n");
    }
}

// ----------------------------------------------------------------------------------------------
// Documents and files

void corpus_init(CorpusGen *g, uint64_t seed) {
    g->rng = trng_seed(seed);
    g->variant = CORPUS_BASIC;
}

void corpus_document(CorpusGen *g, Genre genre, StrBuf *out) {
    switch (genre) {
    case GENRE_STORY:
        story(g, out);
        break;
    case GENRE_CODE:
        if (g->variant == CORPUS_COPY)
            code_document_calls(g, out);
        else
            code_document(g, out);
        break;
    default:
        fact_document(g, out);
        break;
    }
}

// The induct variant's roll call: a list of invented names said, then said again in order.
static void roll_call(CorpusGen *g, StrBuf *b) {
    int n = 3 + (int)trng_below(&g->rng, 5);
    char names[8][NAME_CAP];
    for (int i = 0; i < n; i++)
        do {
            corpus_any_name(&g->rng, 1 + (int)trng_below(&g->rng, 4), true, names[i], NAME_CAP);
        } while (!usable(names[i]));
    for (int pass = 0; pass < 2; pass++) {
        sb_puts(b, pass ? " The teacher called their names: " : "In the class there were ");
        for (int i = 0; i < n; i++)
            sb_printf(b, "%s%s", i == 0 ? "" : i == n - 1 ? " and " : ", ", names[i]);
        sb_puts(b, pass ? ".\n" : ".");
    }
}

void corpus_next(CorpusGen *g, StrBuf *out) {
    if (any_letters(g) && trng_below(&g->rng, 100) < 8) {
        roll_call(g, out);
        return;
    }
    uint32_t r = trng_below(&g->rng, 100);
    if (g->variant == CORPUS_DRILL) // stories 25%, code 35%, facts 40%
        corpus_document(g, r < 25 ? GENRE_STORY : r < 60 ? GENRE_CODE : GENRE_FACT, out);
    else
        corpus_document(g, r < 45 ? GENRE_STORY : r < 75 ? GENRE_CODE : GENRE_FACT, out);
}

KvStatus corpus_write(const char *train_path, const char *valid_path, uint64_t seed,
                      CorpusVariant variant, size_t train_bytes, KvError *err) {
    CorpusGen g;
    corpus_init(&g, seed);
    g.variant = variant;
    StrBuf tr = {0}, va = {0};
    for (size_t i = 0; tr.n < train_bytes; i++) {
        StrBuf *dst = i % 40 == 39 ? &va : &tr;
        corpus_next(&g, dst);
        sb_putn(dst, &(char){CORPUS_DOC_SEP}, 1);
    }
    KvStatus st = kv_write_file_atomic(train_path, tr.p, tr.n, err);
    if (st == KV_OK)
        st = kv_write_file_atomic(valid_path, va.p, va.n, err);
    sb_free(&tr);
    sb_free(&va);
    return st;
}

size_t corpus_split(char *text, size_t n, char ***docs) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += text[i] == CORPUS_DOC_SEP;
    *docs = kv_malloc((count + 1) * sizeof(char *));
    size_t k = 0, start = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == CORPUS_DOC_SEP) {
            text[i] = 0;
            (*docs)[k++] = text + start;
            start = i + 1;
        }
    }
    return k;
}

KvStatus read_whole_file(const char *path, char **data, size_t *n, KvError *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0) {
        fclose(f);
        return kv_error(err, KV_ERR_INPUT, "%s: cannot read", path);
    }
    *data = kv_malloc((size_t)len + 1);
    size_t got = fread(*data, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) {
        free(*data);
        return kv_error(err, KV_ERR_INPUT, "%s: short read", path);
    }
    (*data)[len] = 0;
    *n = (size_t)len;
    return KV_OK;
}

// ----------------------------------------------------------------------------------------------
// The generator's fixed words

// True when s (compared without case) is a whole word of text.
static bool has_word(const char *text, const char *s) {
    size_t n = strlen(s);
    for (const char *p = text; *p; p++) {
        if (p != text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        if (strncasecmp(p, s, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_')
            return true;
    }
    return false;
}

static bool in_table(const char *s, const char *const *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (has_word(a[i], s))
            return true;
    return false;
}

// The words the templates write outside the tables (sb_printf formats, code, facts).
static const char *const template_words[] = {
    "def return if for in print result total item and or not is",
    "picked up the felt very put pocket then after that once upon a time there lived named called",
    "taught the magic words said and began to glow again in the class there were teacher their",
    "names what capital of people speak how many legs does have has plus yes no lives says too",
    "but was together is not an he she his him her you get so",
};

bool corpus_pool_word(const char *s) {
#define IN(t) in_table(s, t, COUNT(t))
    if (IN(girl_names) || IN(boy_names) || IN(ident_words) || IN(kingdoms) || IN(place_adj) ||
        IN(girl_roles) || IN(boy_roles) || IN(animals) || IN(habits) || IN(objects) ||
        IN(obj_adj) || IN(found_where) || IN(problems) || IN(feelings) || IN(helps) ||
        IN(openings) || IN(routines) || IN(middles) || IN(meetings) || IN(dialogues) ||
        IN(endings) || IN(fn_verbs) || IN(fn_nouns) || IN(science) || IN(template_words))
        return true;
#undef IN
    for (size_t i = 0; i < COUNT(countries); i++) {
        const Country *c = &countries[i];
        if (has_word(c->country, s) || has_word(c->capital, s) || has_word(c->continent, s) ||
            has_word(c->language, s))
            return true;
    }
    for (size_t i = 0; i < COUNT(animal_facts); i++) {
        const Animal *a = &animal_facts[i];
        if (has_word(a->name, s) || has_word(a->kind, s) || has_word(a->legs, s) ||
            has_word(a->home, s) || has_word(a->sound, s))
            return true;
    }
    for (size_t i = 0; i < COUNT(science_yn); i++)
        if (has_word(science_yn[i].subject, s) || has_word(science_yn[i].predicate, s))
            return true;
    return false;
}
