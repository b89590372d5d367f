// view_3d.c — the 3D view: the session in perspective. Token blocks stand along the x axis,
// under each the stack of its per-layer cache blocks (coloured by the same block states as the
// 2D views), the write head glows above the position being computed and its attention beams arc
// through space back to every token it reads, brighter and wider for a larger weight. Drawn
// with cairo like every other view, so every export and lesson shows it unchanged.
//
// Drawing order is the painter's algorithm: every block (a convex box: its faces that face the
// camera never overlap each other), every piece of a beam and the head are one primitive with
// the depth of its centre along the camera's axis; primitives are drawn far to near, ties broken
// by a fixed key, so nothing flickers while the camera moves. Labels are billboards: flat text
// in screen space at their token's projected point, so they face the camera and are never
// upside down, drawn only when large enough to read and when they do not cover a nearer one.
//
// World units: token i's block is centred at x = i, z = 0, standing on y = 0; the cache block of
// layer l hangs below it; y is up. One row of the view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_HALF 0.40   // half width and depth of a token block
#define TOKEN_H 0.50      // its height
#define BLOCK_HALF 0.32   // half width and depth of a cache block
#define BLOCK_H 0.30      // its height
#define BLOCK_PITCH 0.40  // from one layer's block to the next, downwards
#define STACK_TOP (-0.14) // top of layer 0's block
#define HEAD_Y 1.55       // the write head's height
#define BEAM_PIECES 6     // a beam is drawn as this many primitives, each with its own depth
#define BEAM_SEGS 4       // straight segments per piece
#define NEAR_Z 0.2        // nearer than this to the eye is not drawn
#define DEG (M_PI / 180)

static double clampd(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

// ----------------------------------------------------------------------------------------------
// The camera: presets, parsing, animation

const char *view_camera_name(CameraPreset c) {
    static const char *const names[CAMERA_PRESETS] = {"front", "top", "orbit"};
    return (unsigned)c < CAMERA_PRESETS ? names[c] : "?";
}

void view_camera_target(const View *v, double *az, double *el) {
    switch (v->camera) {
    case CAMERA_TOP:
        *az = 0, *el = 90;
        break;
    case CAMERA_ORBIT:
        *az = v->orbit_az, *el = clampd(v->orbit_el, -10, 90);
        break;
    default:
        *az = 0, *el = 14;
        break;
    }
}

void view_camera_set(View *v, CameraPreset c) {
    v->camera = (unsigned)c < CAMERA_PRESETS ? c : CAMERA_FRONT;
}

// Reads a number in [lo, hi] ending at one of `ends`; false with why.
static bool camera_number(const char *p, const char **end, double lo, double hi, const char *what,
                          char *why, size_t cap) {
    char *e;
    double x = strtod(p, &e);
    if (e == p || !isfinite(x)) {
        snprintf(why, cap, "%s of '%.40s' is not a number", what, p);
        return false;
    }
    if (x < lo || x > hi) {
        snprintf(why, cap, "%s %g is out of range (%g .. %g degrees)", what, x, lo, hi);
        return false;
    }
    *end = e;
    return true;
}

bool view_camera_parse(const char *text, View *v, char *why, size_t cap) {
    if (!text || !*text) {
        snprintf(why, cap, "needs front, top or orbit:AZIMUTH,ELEVATION");
        return false;
    }
    CameraPreset c;
    double az = v->orbit_az, el = v->orbit_el;
    if (strcmp(text, "front") == 0) {
        c = CAMERA_FRONT;
    } else if (strcmp(text, "top") == 0) {
        c = CAMERA_TOP;
    } else if (strcmp(text, "orbit") == 0) {
        c = CAMERA_ORBIT;
    } else if (strncmp(text, "orbit:", 6) == 0) {
        const char *p = text + 6, *e;
        if (!camera_number(p, &e, -360, 360, "azimuth", why, cap))
            return false;
        if (*e != ',') {
            snprintf(why, cap, "'%.60s' is not orbit:AZIMUTH,ELEVATION", text);
            return false;
        }
        p = e + 1;
        if (!camera_number(p, &e, -10, 90, "elevation", why, cap))
            return false;
        if (*e) {
            snprintf(why, cap, "'%.60s' is not orbit:AZIMUTH,ELEVATION", text);
            return false;
        }
        az = strtod(text + 6, NULL);
        el = strtod(p, NULL);
        c = CAMERA_ORBIT;
    } else {
        snprintf(why, cap, "unknown camera '%.60s' (front, top, orbit:AZIMUTH,ELEVATION)", text);
        return false;
    }
    v->camera = c;
    v->orbit_az = az;
    v->orbit_el = el;
    view_camera_target(v, &v->cam_az, &v->cam_el);
    return true;
}

bool view_camera_advance(View *v, double dt) {
    double az, el;
    view_camera_target(v, &az, &el);
    double daz = fmod(az - v->cam_az, 360);
    if (daz > 180)
        daz -= 360;
    if (daz < -180)
        daz += 360;
    double del = el - v->cam_el;
    if (fabs(daz) < 0.05 && fabs(del) < 0.05) {
        v->cam_az = az;
        v->cam_el = el;
        return false;
    }
    double k = 1 - exp(-(dt > 0 ? dt : 0) * 12); // 95% of the way in a quarter second
    v->cam_az += daz * k;
    v->cam_el += del * k;
    return true;
}

// ----------------------------------------------------------------------------------------------
// Projection

typedef struct {
    double x, y, z;
} V3;

static V3 v3(double x, double y, double z) {
    return (V3){x, y, z};
}

static double dot3(V3 a, const double *b) {
    return a.x * b[0] + a.y * b[1] + a.z * b[2];
}

// World point -> picture; false when it is not in front of the camera. *depth along the axis.
static bool project(const SceneLayout *L, V3 p, double *sx, double *sy, double *depth) {
    V3 d = v3(p.x - L->c3_eye[0], p.y - L->c3_eye[1], p.z - L->c3_eye[2]);
    double z = dot3(d, L->c3_fwd);
    if (depth)
        *depth = z;
    if (z < NEAR_Z)
        return false;
    *sx = L->c3_cx + L->c3_focal * dot3(d, L->c3_right) / z;
    *sy = L->c3_cy - L->c3_focal * dot3(d, L->c3_up) / z;
    return true;
}

static double view_depth(const SceneLayout *L, V3 p) {
    V3 d = v3(p.x - L->c3_eye[0], p.y - L->c3_eye[1], p.z - L->c3_eye[2]);
    return dot3(d, L->c3_fwd);
}

static double block_top(int layer) {
    return STACK_TOP - layer * BLOCK_PITCH;
}

void scene_3d_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    (void)s;
    int n = L->n_tokens;
    int nl = L->n_layers > 0 ? L->n_layers : 1;
    double az = v->cam_az * DEG, el = clampd(v->cam_el, -10, 90) * DEG;
    double zoom = clampd(v->cam_zoom > 0 ? v->cam_zoom : 1, 0.25, 8);
    L->c3_focal = 1.25 * fmin(c.h, c.w * 0.75);
    L->c3_cx = c.x + c.w / 2;
    L->c3_cy = c.y + c.h / 2;
    double bottom = block_top(nl - 1) - BLOCK_H;
    double ty = (HEAD_Y + bottom) / 2;
    // Following the write head: it sits right of the centre, with the tokens it reads to its
    // left. Fitting: the middle of the sequence, far enough that every token is in the picture.
    double dist = 9.5 / zoom, tx;
    double head = L->head_pos >= 0 ? L->head_pos : (n > 0 ? n - 1 : 0);
    if (v->cam_fit && n > 0) {
        tx = (n - 1) / 2.0;
        double half_w = c.w / 2 / L->c3_focal; // tan of half the horizontal field
        dist = fmax(dist, ((n - 1) / 2.0 + 1.5) / half_w + 1.5);
    } else {
        tx = head - 2.0 / zoom * cos(el) * cos(az);
        if (tx < 0 && n > 0)
            tx = fmin(head, 0);
    }
    double ce = cos(el), se = sin(el), ca = cos(az), sa = sin(az);
    L->c3_eye[0] = tx + dist * ce * sa;
    L->c3_eye[1] = ty + dist * se;
    L->c3_eye[2] = dist * ce * ca;
    L->c3_fwd[0] = -ce * sa, L->c3_fwd[1] = -se, L->c3_fwd[2] = -ce * ca;
    L->c3_right[0] = ca, L->c3_right[1] = 0, L->c3_right[2] = -sa;
    // up = right x fwd
    L->c3_up[0] = L->c3_right[1] * L->c3_fwd[2] - L->c3_right[2] * L->c3_fwd[1];
    L->c3_up[1] = L->c3_right[2] * L->c3_fwd[0] - L->c3_right[0] * L->c3_fwd[2];
    L->c3_up[2] = L->c3_right[0] * L->c3_fwd[1] - L->c3_right[1] * L->c3_fwd[0];
    L->c3_near = fmax(0.6, dist - 3.5); // what stands well before the target is cut away
    L->beams = c;                       // the whole area is the scene
    L->head_x = L->head_y = -1;
    if (L->head_pos >= 0 && !scene3d_head_point(L, &L->head_x, &L->head_y))
        L->head_x = L->head_y = -1;
}

bool scene3d_token_point(const SceneLayout *l, int i, double *x, double *y) {
    if (l->kind != VIEW_3D || i < 0 || i >= l->n_tokens)
        return false;
    return project(l, v3(i, TOKEN_H, 0), x, y, NULL);
}

bool scene3d_block_point(const SceneLayout *l, int i, int layer, double *x, double *y) {
    if (l->kind != VIEW_3D || i < 0 || i >= l->n_tokens || layer < 0 || layer >= l->n_layers)
        return false;
    return project(l, v3(i, block_top(layer) - BLOCK_H / 2, 0), x, y, NULL);
}

bool scene3d_head_point(const SceneLayout *l, double *x, double *y) {
    if (l->kind != VIEW_3D || l->head_pos < 0)
        return false;
    return project(l, v3(l->head_pos, HEAD_Y, 0), x, y, NULL);
}

int scene_3d_hit_token(const SceneLayout *L, double x, double y) {
    int best = -1;
    double best_d = 1e300;
    for (int i = 0; i < L->n_tokens; i++) {
        double sx, sy, depth;
        if (!project(L, v3(i, TOKEN_H / 2, 0), &sx, &sy, &depth) || depth < L->c3_near)
            continue;
        double r = L->c3_focal * 0.5 / depth; // half a token's pitch on the picture
        double dx = x - sx, dy = y - sy;
        double d = dx * dx + dy * dy;
        if (fabs(dx) < r && fabs(dy) < 3 * r && d < best_d) {
            best = i;
            best_d = d;
        }
    }
    return best;
}

// ----------------------------------------------------------------------------------------------
// Primitives

typedef enum { PRIM_BEAM = 0, PRIM_BLOCK, PRIM_TOKEN, PRIM_HEAD } PrimKind;

typedef struct {
    double depth;
    int kind, i, sub; // sub: the layer of a block, the piece of a beam
} Prim;

static int prim_cmp(const void *a, const void *b) {
    const Prim *p = a, *q = b;
    if (p->depth != q->depth)
        return p->depth < q->depth ? 1 : -1; // far first
    if (p->kind != q->kind)
        return p->kind - q->kind;
    if (p->i != q->i)
        return p->i - q->i;
    return p->sub - q->sub;
}

typedef struct {
    Prim *p;
    size_t n, cap;
} PrimList;

static void prim_add(PrimList *pl, double depth, int kind, int i, int sub) {
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 256;
        pl->p = kv_realloc(pl->p, pl->cap * sizeof *pl->p);
    }
    pl->p[pl->n++] = (Prim){depth, kind, i, sub};
}

// A beam from the write head to token k: a quadratic curve rising above the tokens and bowing
// back behind them (−z), so FRONT shows arcs and TOP shows the fan as a flat graph.
static V3 beam_at(int head, int k, double t) {
    double d = fabs((double)head - k);
    V3 a = v3(head, HEAD_Y, 0), b = v3(k, TOKEN_H + 0.05, 0);
    V3 c = v3((head + k) / 2.0, HEAD_Y + 0.3 + 0.25 * sqrt(d), -0.5 - 0.35 * d);
    double mt = 1 - t;
    return v3(mt * mt * a.x + 2 * mt * t * c.x + t * t * b.x,
              mt * mt * a.y + 2 * mt * t * c.y + t * t * b.y,
              mt * mt * a.z + 2 * mt * t * c.z + t * t * b.z);
}

// ----------------------------------------------------------------------------------------------
// Drawing

typedef struct {
    Frame *f;
    double area_x0, area_x1, area_y0, area_y1;
    float *weight;              // attention of the head's row to every key, or NULL
    double fan;                 // how far the beams have fanned out
    double min_px;              // smallest text the view draws
    unsigned char *label;       // which tokens show their label: 0 none, 1 on the block, 2 above
    double *label_w, *label_lh; // their measured width and line height
    // Faces of one colour in a row (in drawing order) go into one path, filled once: far
    // blocks, drawn flat, mostly share their state's colour.
    Rgba pend;
    bool pending;
} Ctx3;

static void batch_flush(Ctx3 *c) {
    if (!c->pending)
        return;
    scene_set_rgba(c->f->cr, c->pend);
    cairo_fill(c->f->cr);
    c->pending = false;
}

static void batch_colour(Ctx3 *c, Rgba col) {
    if (c->pending &&
        (col.r != c->pend.r || col.g != c->pend.g || col.b != c->pend.b || col.a != c->pend.a))
        batch_flush(c);
    c->pend = col;
    c->pending = true;
}

static Rgba shade(Rgba c, double k) {
    if (k > 1) {
        double w = k - 1;
        return (Rgba){c.r + (1 - c.r) * w, c.g + (1 - c.g) * w, c.b + (1 - c.b) * w, c.a};
    }
    return (Rgba){c.r * k, c.g * k, c.b * k, c.a};
}

// Fills the faces of the box centre (cx, y0 .. y1, cz), half sizes hx, hz, that face the eye.
// Far boxes (a few pixels) are drawn flat, in one colour, so that they batch.
static void draw_box(Ctx3 *c, double cx, double y0, double y1, double hx, double hz, Rgba col,
                     Rgba edge, double edge_w, bool flat) {
    const SceneLayout *L = c->f->lay;
    cairo_t *cr = c->f->cr;
    V3 corner[8];
    double sx[8], sy[8];
    for (int k = 0; k < 8; k++) {
        corner[k] = v3(cx + (k & 1 ? hx : -hx), k & 2 ? y1 : y0, k & 4 ? hz : -hz);
        if (!project(L, corner[k], &sx[k], &sy[k], NULL))
            return;
    }
    // Faces: corner indices in order round the face, outward normal.
    static const int face[6][4] = {{0, 2, 6, 4}, {1, 5, 7, 3}, {0, 4, 5, 1},
                                   {2, 3, 7, 6}, {0, 1, 3, 2}, {4, 6, 7, 5}};
    static const double normal[6][3] = {{-1, 0, 0}, {1, 0, 0},  {0, -1, 0},
                                        {0, 1, 0},  {0, 0, -1}, {0, 0, 1}};
    static const double light[6] = {0.80, 0.80, 0.62, 1.12, 0.70, 0.94};
    double fc[3] = {cx, (y0 + y1) / 2, 0};
    double ext[3] = {hx, (y1 - y0) / 2, hz};
    int shown[6], n_shown = 0;
    if (flat && edge_w <= 0) { // the outline of the box: the hull of its corners, one polygon
        int hull[8], nh = 0, start = 0;
        for (int k = 1; k < 8; k++)
            if (sx[k] < sx[start] || (sx[k] == sx[start] && sy[k] < sy[start]))
                start = k;
        int cur = start;
        do { // gift wrapping
            hull[nh++] = cur;
            int next = (cur + 1) % 8;
            for (int k = 0; k < 8; k++) {
                double cross = (sx[next] - sx[cur]) * (sy[k] - sy[cur]) -
                               (sy[next] - sy[cur]) * (sx[k] - sx[cur]);
                if (cross < 0)
                    next = k;
            }
            cur = next;
        } while (cur != start && nh < 8);
        batch_colour(c, col);
        cairo_move_to(cr, sx[hull[0]], sy[hull[0]]);
        for (int k = 1; k < nh; k++)
            cairo_line_to(cr, sx[hull[k]], sy[hull[k]]);
        cairo_close_path(cr);
        return;
    }
    for (int fi = 0; fi < 6; fi++) {
        const double *nrm = normal[fi];
        // Centre of the face, and whether the eye is on its outer side.
        double p[3];
        for (int a = 0; a < 3; a++)
            p[a] = fc[a] + nrm[a] * ext[a];
        double to_eye = (L->c3_eye[0] - p[0]) * nrm[0] + (L->c3_eye[1] - p[1]) * nrm[1] +
                        (L->c3_eye[2] - p[2]) * nrm[2];
        if (to_eye <= 1e-9)
            continue;
        const int *q = face[fi];
        if (edge_w > 0)
            batch_flush(c);
        else
            batch_colour(c, flat ? col : shade(col, light[fi]));
        cairo_move_to(cr, sx[q[0]], sy[q[0]]);
        for (int k = 1; k < 4; k++)
            cairo_line_to(cr, sx[q[k]], sy[q[k]]);
        cairo_close_path(cr);
        if (edge_w > 0) {
            scene_set_rgba(cr, shade(col, light[fi]));
            cairo_fill(cr);
            shown[n_shown++] = fi;
        }
    }
    if (n_shown > 0) { // the edges of the faces shown, in one stroke
        for (int k = 0; k < n_shown; k++) {
            const int *q = face[shown[k]];
            cairo_move_to(cr, sx[q[0]], sy[q[0]]);
            for (int j = 1; j < 4; j++)
                cairo_line_to(cr, sx[q[j]], sy[q[j]]);
            cairo_close_path(cr);
        }
        scene_set_rgba(cr, edge);
        cairo_set_line_width(cr, edge_w);
        cairo_stroke(cr);
    }
}

static double px_per_unit(const SceneLayout *L, V3 p) {
    double z = view_depth(L, p);
    return z > NEAR_Z ? L->c3_focal / z : 0;
}

static void draw_block(Ctx3 *c, int i, int layer) {
    Frame *f = c->f;
    BlockState st = scene_block_state(f->s, i, layer, f->t);
    Rgba col = f->th->block[st];
    double top = block_top(layer);
    double ppu = px_per_unit(f->lay, v3(i, top, 0));
    // Blocks: gaps and shading separate them (strokes would cost the frame); empty ones, near
    // the background colour, keep an edge.
    double ew = st == BLOCK_EMPTY && ppu * BLOCK_HALF > 6 ? fmax(1, 0.012 * ppu) : 0;
    draw_box(c, i, top - BLOCK_H, top, BLOCK_HALF, BLOCK_HALF, col, f->th->block_edge, ew,
             ppu * BLOCK_HALF < 8);
    if (st == BLOCK_RECOMPUTED || st == BLOCK_WRITTEN) {
        // The flash: a bright rim while the step computes this layer, fading out.
        double lt = scene_anim_layer_time(layer, f->lay->n_layers);
        double flash = f->t >= 1 ? 0 : 1 - scene_anim_phase(f->t, lt, lt + 0.3);
        if (st == BLOCK_RECOMPUTED)
            flash = fmax(flash, 0.35); // recomputed blocks keep a rim: not colour alone
        if (flash > 0) {
            double sx, sy;
            if (project(f->lay, v3(i, top - BLOCK_H / 2, 0), &sx, &sy, NULL)) {
                batch_flush(c);
                double r = ppu * BLOCK_HALF * 1.5;
                cairo_pattern_t *g = cairo_pattern_create_radial(sx, sy, 0, sx, sy, r);
                cairo_pattern_add_color_stop_rgba(g, 0, col.r, col.g, col.b, 0.55 * flash);
                cairo_pattern_add_color_stop_rgba(g, 1, col.r, col.g, col.b, 0);
                cairo_set_source(f->cr, g);
                cairo_arc(f->cr, sx, sy, r, 0, 2 * M_PI);
                cairo_fill(f->cr);
                cairo_pattern_destroy(g);
            }
        }
    }
}

// The label's box on the picture for token i (text at size px), from its projected point.
// Where token i's label stands: over the block, on the side facing the camera (so that from
// above it sits at the block's front edge and leaves the write head, over the centre, in
// view); lift 1: floating above the block.
static V3 label_point(const SceneLayout *L, int i, int lift) {
    if (lift)
        return v3(i, TOKEN_H + 0.32, 0);
    double up = -L->c3_fwd[1]; // sin(elevation)
    up = up > 0 ? up : 0;
    double fz = L->c3_eye[2] > 0 ? 1 : -1; // the side of the row the camera is on
    return v3(i, TOKEN_H / 2 + TOKEN_H / 2 * up, fz * TOKEN_HALF * 0.8 * up);
}

// lift: 0 over the block, 1 floating above the block.
static bool label_geom(Ctx3 *c, int i, int lift, double *x, double *y, double *size) {
    const SceneLayout *L = c->f->lay;
    double ppu = px_per_unit(L, v3(i, TOKEN_H, 0));
    double sz = fmin(0.30 * ppu, 2.2 * c->min_px);
    if (sz < 0.8 * c->min_px)
        return false;
    *size = fmax(sz, c->min_px);
    double cx, cy;
    if (!project(L, label_point(L, i, lift), &cx, &cy, NULL))
        return false;
    *x = cx;
    *y = cy;
    return true;
}

static void draw_token(Ctx3 *c, int i) {
    Frame *f = c->f;
    const Theme *th = f->th;
    const SceneLayout *L = f->lay;
    bool prompt = i < f->s->n_prompt;
    double dy = 0;
    if (i == L->new_pos && f->t < 1)
        dy = (1 - scene_anim_drop(f->t)) * 1.4;
    Rgba col = prompt ? th->panel : th->panel_edge;
    Rgba edge = i == L->new_pos ? th->new_token : i == L->head_pos ? th->head : th->block_edge;
    double ppu = px_per_unit(L, v3(i, TOKEN_H, 0));
    double ew = i == L->new_pos || i == L->head_pos ? fmax(1.5, 0.03 * ppu)
                : ppu * TOKEN_HALF > 18             ? fmax(1, 0.012 * ppu)
                                                    : 0;
    draw_box(c, i, dy, TOKEN_H + dy, TOKEN_HALF, TOKEN_HALF, col, edge, ew, ppu * TOKEN_HALF < 8);
}

// The label of token i: a billboard over the centre of its block, drawn after every block so
// that it is never cut; only labels no nearer column covers get here.
static void draw_label(Ctx3 *c, int i) {
    Frame *f = c->f;
    const Theme *th = f->th;
    const SceneLayout *L = f->lay;
    bool prompt = i < f->s->n_prompt;
    double x, y, size;
    int lift = c->label[i] - 1;
    if (!label_geom(c, i, lift, &x, &y, &size))
        return;
    if (i == L->new_pos && f->t < 1) {
        double x2, y2, dy = (1 - scene_anim_drop(f->t)) * 1.4;
        V3 p = label_point(L, i, lift);
        p.y += dy;
        if (project(L, p, &x2, &y2, NULL))
            y = y2;
    }
    Rgba edge = i == L->new_pos ? th->new_token : i == L->head_pos ? th->head : th->block_edge;
    char buf[96];
    scene_token_display(f->s, i, buf, sizeof buf);
    double lh = c->label_lh[i];
    double w = c->label_w[i];
    double pad = 0.3 * size;
    cairo_t *cr = f->cr;
    // The billboard: a plate in the panel colour, so the text's contrast is the 2D token row's.
    scene_set_rgba(cr, th->panel);
    cairo_rectangle(cr, x - w / 2 - pad, y - lh / 2 - 0.1 * size, w + 2 * pad, lh + 0.2 * size);
    cairo_fill_preserve(cr);
    scene_set_rgba(cr, edge);
    cairo_set_line_width(cr, fmax(1, 0.08 * size));
    cairo_stroke(cr);
    scene_text_draw(&f->tx, x, y - lh / 2, size, !prompt, ALIGN_CENTER, 0,
                    prompt ? th->prompt_text : th->gen_text, buf);
}

static void beam_style(Ctx3 *c, float w, Rgba *col, double *alpha, double *width, double ppu) {
    double m = sqrt(clampd(w, 0, 1));
    *col = scene_theme_ramp(c->f->th, m);
    *alpha = (0.30 + 0.70 * m) * (0.4 + 0.6 * c->fan);
    *width = fmax(1.0, ppu * (0.012 + 0.07 * m * m));
}

static void draw_beam_piece(Ctx3 *c, int k, int piece) {
    Frame *f = c->f;
    const SceneLayout *L = f->lay;
    int head = L->head_pos;
    float w = c->weight[k];
    double t0 = (double)piece / BEAM_PIECES, t1 = (double)(piece + 1) / BEAM_PIECES;
    double tk = c->fan; // the beam grows from the head toward its key
    if (t0 >= tk)
        return;
    t1 = fmin(t1, tk);
    batch_flush(c);
    cairo_t *cr = f->cr;
    bool started = false;
    for (int s = 0; s <= BEAM_SEGS; s++) {
        double t = t0 + (t1 - t0) * s / BEAM_SEGS;
        double x, y;
        if (!project(L, beam_at(head, k, t), &x, &y, NULL)) {
            started = false;
            continue;
        }
        if (started)
            cairo_line_to(cr, x, y);
        else
            cairo_move_to(cr, x, y);
        started = true;
    }
    Rgba col;
    double alpha, width;
    beam_style(c, w, &col, &alpha, &width, px_per_unit(L, beam_at(head, k, (t0 + t1) / 2)));
    scene_set_rgba_a(cr, col, alpha);
    cairo_set_line_width(cr, width);
    cairo_stroke(cr);
}

static void draw_head(Ctx3 *c) {
    Frame *f = c->f;
    const SceneLayout *L = f->lay;
    double x, y, bx, by;
    if (!scene3d_head_point(L, &x, &y))
        return;
    batch_flush(c);
    cairo_t *cr = f->cr;
    double ppu = px_per_unit(L, v3(L->head_pos, HEAD_Y, 0));
    double r = 0.16 * ppu;
    Rgba h = f->th->head;
    // A stem down to the slot it writes.
    if (project(L, v3(L->head_pos, TOKEN_H + 0.05, 0), &bx, &by, NULL)) {
        scene_set_rgba_a(cr, h, 0.7);
        cairo_set_line_width(cr, fmax(1.5, 0.02 * ppu));
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, bx, by);
        cairo_stroke(cr);
    }
    cairo_pattern_t *g = cairo_pattern_create_radial(x, y, 0, x, y, 3 * r);
    cairo_pattern_add_color_stop_rgba(g, 0, h.r, h.g, h.b, 0.65);
    cairo_pattern_add_color_stop_rgba(g, 1, h.r, h.g, h.b, 0);
    cairo_set_source(cr, g);
    cairo_arc(cr, x, y, 3 * r, 0, 2 * M_PI);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    scene_set_rgba(cr, h);
    cairo_arc(cr, x, y, r, 0, 2 * M_PI);
    cairo_fill(cr);
}

// Whether any of the points is inside the area (with a margin).
static bool on_picture(const Ctx3 *c, const double *x, const double *y, int n, double margin) {
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (int k = 0; k < n; k++) {
        x0 = fmin(x0, x[k]), x1 = fmax(x1, x[k]);
        y0 = fmin(y0, y[k]), y1 = fmax(y1, y[k]);
    }
    return x1 >= c->area_x0 - margin && x0 <= c->area_x1 + margin && y1 >= c->area_y0 - margin &&
           y0 <= c->area_y1 + margin;
}

typedef struct {
    double x0, y0, x1, y1;
} Box;

void scene_3d_draw(Frame *f) {
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    int n = L->n_tokens, nl = L->n_layers;
    SceneRect a = L->beams;
    Ctx3 c = {.f = f, .area_x0 = a.x, .area_x1 = a.x + a.w, .area_y0 = a.y, .area_y1 = a.y + a.h};
    c.fan = scene_anim_fan(f->t);
    c.min_px = 14.0 * fmin(L->height / 720.0, L->width / 1280.0); // 14 px at 1280x720
    c.label = kv_calloc((size_t)(n > 0 ? n : 1), sizeof *c.label);
    c.label_w = kv_calloc((size_t)(n > 0 ? n : 1), sizeof *c.label_w);
    c.label_lh = kv_calloc((size_t)(n > 0 ? n : 1), sizeof *c.label_lh);
    PrimList pl = {0};

    // Tokens and their stacks, when on the picture.
    double bottom = block_top(nl - 1) - BLOCK_H;
    for (int i = 0; i < n; i++) {
        double sx[2], sy[2], d0;
        bool a0 = project(L, v3(i, HEAD_Y, 0), &sx[0], &sy[0], &d0);
        bool a1 = project(L, v3(i, bottom, 0), &sx[1], &sy[1], NULL);
        if (!a0 || !a1)
            continue;
        double ppu = px_per_unit(L, v3(i, TOKEN_H / 2, 0));
        if (!on_picture(&c, sx, sy, 2, ppu) || view_depth(L, v3(i, TOKEN_H / 2, 0)) < L->c3_near)
            continue;
        prim_add(&pl, view_depth(L, v3(i, TOKEN_H / 2, 0)), PRIM_TOKEN, i, 0);
        for (int l = 0; l < nl; l++)
            prim_add(&pl, view_depth(L, v3(i, block_top(l) - BLOCK_H / 2, 0)), PRIM_BLOCK, i, l);
    }
    // Beams: every key the head's row reads with a weight at the threshold or more.
    int head = L->head_pos;
    if (head >= 0 && c.fan > 0) {
        c.weight = kv_malloc((size_t)(head + 1) * sizeof *c.weight);
        float thr = f->v->beam_threshold > 0 ? f->v->beam_threshold : 0;
        for (int k = 0; k < head; k++) {
            float w = view_attention(s, f->v, head, k);
            c.weight[k] = w;
            if (!(w >= thr) || w <= 0)
                continue;
            double bx[3], by[3];
            bool ok = project(L, beam_at(head, k, 0), &bx[0], &by[0], NULL) &&
                      project(L, beam_at(head, k, 0.5), &bx[1], &by[1], NULL) &&
                      project(L, beam_at(head, k, 1), &bx[2], &by[2], NULL);
            if (ok && !on_picture(&c, bx, by, 3, 0.1 * a.w))
                continue;
            for (int p = 0; p < BEAM_PIECES; p++) {
                double d = view_depth(L, beam_at(head, k, (p + 0.5) / BEAM_PIECES));
                if (d >= L->c3_near)
                    prim_add(&pl, d, PRIM_BEAM, k, p);
            }
        }
    }
    if (head >= 0)
        prim_add(&pl, view_depth(L, v3(head, HEAD_Y, 0)), PRIM_HEAD, head, 0);
    qsort(pl.p, pl.n, sizeof *pl.p, prim_cmp);

    // Labels, nearest first: each that is large enough, covers no nearer label and is not
    // covered by a nearer column (its token block and stack).
    Box *taken = kv_malloc((pl.n > 0 ? pl.n : 1) * sizeof *taken);
    Box *cols = kv_malloc((pl.n > 0 ? pl.n : 1) * sizeof *cols);
    size_t n_taken = 0, n_cols = 0;
    char buf[96];
    for (size_t k = pl.n; k-- > 0;) {
        if (pl.p[k].kind != PRIM_TOKEN)
            continue;
        int i = pl.p[k].i;
        double x, y, size, lh;
        Box col = {1e300, 1e300, -1e300, -1e300};
        bool col_ok = true;
        for (int q = 0; q < 8 && col_ok; q++) {
            double px, py;
            col_ok = project(L,
                             v3(i + (q & 1 ? TOKEN_HALF : -TOKEN_HALF), q & 2 ? TOKEN_H : bottom,
                                q & 4 ? TOKEN_HALF : -TOKEN_HALF),
                             &px, &py, NULL);
            col = (Box){fmin(col.x0, px), fmin(col.y0, py), fmax(col.x1, px), fmax(col.y1, py)};
        }
        for (int lift = 0; lift < 2 && !c.label[i]; lift++) {
            if (!label_geom(&c, i, lift, &x, &y, &size))
                break;
            scene_token_display(s, i, buf, sizeof buf);
            double tw = scene_text_width(&f->tx, size, i >= s->n_prompt, buf, &lh);
            c.label_w[i] = tw;
            c.label_lh[i] = lh;
            double w = tw + 0.6 * size;
            Box b = {x - w / 2, y - lh / 2, x + w / 2, y + lh / 2};
            bool free_spot = true;
            for (size_t j = 0; j < n_taken && free_spot; j++)
                free_spot = b.x1 <= taken[j].x0 || b.x0 >= taken[j].x1 || b.y1 <= taken[j].y0 ||
                            b.y0 >= taken[j].y1;
            double area = (b.x1 - b.x0) * (b.y1 - b.y0);
            for (size_t j = 0; j < n_cols && free_spot; j++) {
                double ox = fmin(b.x1, cols[j].x1) - fmax(b.x0, cols[j].x0);
                double oy = fmin(b.y1, cols[j].y1) - fmax(b.y0, cols[j].y0);
                free_spot = !(ox > 0 && oy > 0 && ox * oy > 0.2 * area);
            }
            if (free_spot) {
                taken[n_taken++] = b;
                c.label[i] = (unsigned char)(1 + lift);
            }
        }
        if (col_ok)
            cols[n_cols++] = col;
    }
    free(cols);
    free(taken);

    cairo_t *cr = f->cr;
    cairo_save(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (size_t k = 0; k < pl.n; k++) {
        const Prim *p = &pl.p[k];
        switch (p->kind) {
        case PRIM_TOKEN:
            draw_token(&c, p->i);
            break;
        case PRIM_BLOCK:
            draw_block(&c, p->i, p->sub);
            break;
        case PRIM_BEAM:
            draw_beam_piece(&c, p->i, p->sub);
            break;
        case PRIM_HEAD: // drawn after the labels: nothing hides the write head
            break;
        }
    }
    batch_flush(&c);
    for (size_t k = 0; k < pl.n; k++)
        if (pl.p[k].kind == PRIM_TOKEN && c.label[pl.p[k].i])
            draw_label(&c, pl.p[k].i);
    draw_head(&c);
    cairo_restore(cr);
    // Which camera, in the corner.
    char cam[64];
    snprintf(cam, sizeof cam, "camera: %s%s", view_camera_name(f->v->camera),
             f->v->cam_fit ? " (whole sequence)" : "");
    scene_text_draw(&f->tx, a.x + 0.3 * f->u, a.y + 0.2 * f->u, c.min_px, false, ALIGN_LEFT, 0,
                    f->th->text_dim, cam);
    free(pl.p);
    free(c.weight);
    free(c.label);
    free(c.label_w);
    free(c.label_lh);
}
