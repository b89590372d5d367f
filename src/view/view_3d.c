// view_3d.c — the 3D view: the session in perspective. Token blocks stand along the x axis,
// under each the stack of its per-layer cache blocks (coloured by the same block states as the
// 2D views; recomputed ones striped, evicted ones ghosts), the write head glows above the
// position being computed and its attention beams arc through space back to every token it
// reads, brighter and wider for a larger weight. Drawn with cairo like every other view, so
// every export and lesson shows it unchanged.
//
// Drawing order is a painter's order without a sort by depth ("Boxes in drawing order"):
// columns by their distance from the eye along x, the boxes of a column by their distance in y,
// the beams before or after all of them; of a box only the faces toward the eye, which never
// overlap. It is exact under every camera and the same from frame to frame, so nothing
// flickers while orbiting, and the hit test follows it. Labels are billboards: flat text in
// screen space at their token's projected point, so they face the camera and are never upside
// down, drawn only when large enough to read and when they do not cover a nearer one. On an
// opaque image target (the window, PNG, video) the faces, edges and beams are filled by the
// rasterizer below; SVG, PDF and transparent pictures get the same polygons through cairo.
//
// The camera moves on critically damped springs toward its goal, the preset's angles and the
// write head (or the whole sequence): view_camera_advance, each frame of the window. A still
// stands at its goal.
//
// World units: token i's block is centred at x = i, z = 0, standing on y = 0; the cache block of
// layer l hangs below it; y is up. One row of the view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
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
#define COLUMN_BOXES (KV_MAX_LAYERS + 1) // a token block and a cache block per layer

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

// A critically damped spring moved over dt toward goal g, exactly (for a goal that holds still
// over dt): the error e = x - g decays as (e0 + (v0 + w e0) t) e^(-w t). Started at rest, or
// chasing a goal that steps on in one direction, it never passes the goal.
static void spring(double *x, double *vel, double g, double w, double dt) {
    double e = *x - g, v = *vel, k = exp(-w * dt);
    double c = v + w * e;
    *x = g + (e + c * dt) * k;
    *vel = (v - w * c * dt) * k;
}

#define CAMERA_W 10.0 // the springs' rate (1/s): 95% of a move in under half a second

bool view_camera_advance(View *v, const SceneLayout *L, double dt) {
    dt = dt > 0 ? fmin(dt, 0.25) : 0; // a stalled frame does not throw the camera
    double az, el;
    view_camera_target(v, &az, &el);
    // Azimuth the short way round: the goal is the preset's angle nearest the drawn one.
    double daz = fmod(az - v->cam_az, 360);
    daz += daz > 180 ? -360 : daz < -180 ? 360 : 0;
    spring(&v->cam_az, &v->cam_vel[0], v->cam_az + daz, CAMERA_W, dt);
    spring(&v->cam_el, &v->cam_vel[1], el, CAMERA_W, dt);
    double left = fmod(az - v->cam_az, 360);
    left += left > 180 ? -360 : left < -180 ? 360 : 0;
    bool moving = fabs(left) > 0.05 || fabs(v->cam_el - el) > 0.05 || fabs(v->cam_vel[0]) > 0.5 ||
                  fabs(v->cam_vel[1]) > 0.5;
    if (!moving) { // arrived: exactly at the preset
        v->cam_az += left;
        v->cam_el = el;
        v->cam_vel[0] = v->cam_vel[1] = 0;
    }
    if (L && L->kind == VIEW_3D) {
        if (!v->cam_live) { // start where a still would be
            v->cam_x = L->c3_goal_x;
            v->cam_dist = L->c3_goal_dist;
            v->cam_vel[2] = v->cam_vel[3] = 0;
            v->cam_live = true;
        }
        spring(&v->cam_x, &v->cam_vel[2], L->c3_goal_x, CAMERA_W, dt);
        spring(&v->cam_dist, &v->cam_vel[3], L->c3_goal_dist, CAMERA_W, dt);
        bool follow = fabs(v->cam_x - L->c3_goal_x) > 1e-3 || fabs(v->cam_vel[2]) > 1e-2 ||
                      fabs(v->cam_dist - L->c3_goal_dist) > 1e-3 || fabs(v->cam_vel[3]) > 1e-2;
        if (!follow) {
            v->cam_x = L->c3_goal_x;
            v->cam_dist = L->c3_goal_dist;
            v->cam_vel[2] = v->cam_vel[3] = 0;
        }
        moving |= follow;
    }
    return moving;
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

static double px_per_unit(const SceneLayout *L, V3 p) {
    double z = view_depth(L, p);
    return z > NEAR_Z ? L->c3_focal / z : 0;
}

static double block_top(int layer) {
    return STACK_TOP - layer * BLOCK_PITCH;
}

static double stack_bottom(int n_layers) {
    return block_top((n_layers > 0 ? n_layers : 1) - 1) - BLOCK_H;
}

// Where the camera goes: following the write head, it sits right of the centre with the tokens
// it reads to its left; fitting, it looks at the middle of the sequence from far enough that
// the sequence's whole box (every token, stack and beam) is in the picture under these angles.
static void camera_goal(const SceneLayout *L, const View *v, SceneRect c, double az, double el,
                        double *tx, double *dist) {
    int n = L->n_tokens;
    double zoom = clampd(v->cam_zoom > 0 ? v->cam_zoom : 1, 0.25, 8);
    *dist = 9.5 / zoom;
    if (v->cam_fit && n > 0) {
        *tx = (n - 1) / 2.0;
        // A point p stays in the picture when |right.(p - t)| <= tan_w (fwd.(p - t) + dist),
        // and alike upward: conditions convex in p, so the box's corners decide.
        double ce = cos(el), se = sin(el), ca = cos(az), sa = sin(az);
        double fwd[3] = {-ce * sa, -se, -ce * ca}, right[3] = {ca, 0, -sa};
        double up[3] = {right[1] * fwd[2] - right[2] * fwd[1],
                        right[2] * fwd[0] - right[0] * fwd[2],
                        right[0] * fwd[1] - right[1] * fwd[0]};
        double margin = 0.05 * fmin(c.w, c.h);
        double tan_w = (c.w / 2 - margin) / L->c3_focal, tan_h = (c.h / 2 - margin) / L->c3_focal;
        double bottom = stack_bottom(L->n_layers), ty = (HEAD_Y + bottom) / 2;
        for (int k = 0; k < 8; k++) {
            V3 p = v3(k & 1 ? n - 0.5 - *tx : -0.5 - *tx, (k & 2 ? HEAD_Y + 0.6 : bottom) - ty,
                      k & 4 ? 0.6 : -0.6);
            double f = dot3(p, fwd), r = fabs(dot3(p, right)), u = fabs(dot3(p, up));
            *dist = fmax(*dist, fmax(fmax(r / tan_w, u / tan_h), 1.0) - f);
        }
        return;
    }
    double head = L->head_pos >= 0 ? L->head_pos : (n > 0 ? n - 1 : 0);
    *tx = fmax(0, head - 2.0 / zoom * cos(el) * cos(az));
}

static void place_labels(const Session *s, SceneLayout *L);

void scene_3d_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    if (v->inspect && session_last(s)) {
        // The inspector's panel goes under the token columns (inspect.c): the scene keeps the
        // top of the area, so the cell being inspected stays in view with its outline.
        c.h *= 0.42;
        L->token_row = c;
    }
    double az = v->cam_az * DEG, el = clampd(v->cam_el, -10, 90) * DEG;
    L->c3_focal = 1.25 * fmin(c.h, c.w * 0.75);
    L->c3_cx = c.x + c.w / 2;
    L->c3_cy = c.y + c.h / 2;
    double ty = (HEAD_Y + stack_bottom(L->n_layers)) / 2;
    camera_goal(L, v, c, az, el, &L->c3_goal_x, &L->c3_goal_dist);
    // A still stands at the goal; the window's camera is where its springs have brought it.
    double tx = v->cam_live ? v->cam_x : L->c3_goal_x;
    double dist = v->cam_live && v->cam_dist > 0 ? v->cam_dist : L->c3_goal_dist;
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
    // What stands well before the target is cut away (it would fill the picture); the whole
    // sequence is shown whole.
    L->c3_near = v->cam_fit ? NEAR_Z : fmax(0.6, dist - 3.5);
    L->beams = c; // the whole area is the scene
    L->head_x = L->head_y = -1;
    if (L->head_pos >= 0 && !scene3d_head_point(L, &L->head_x, &L->head_y))
        L->head_x = L->head_y = -1;
    place_labels(s, L);
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

// ----------------------------------------------------------------------------------------------
// Boxes in drawing order
//
// Every box is a token's block or one of its cache blocks. Columns (a token and its stack)
// stand in slabs of x that do not overlap, and the boxes of one column in slabs of y. Of two
// boxes on either side of such a slab's plane only the one on the eye's side can cover the
// other, so drawing columns by their distance from the eye along x, farthest first, and in a
// column its boxes by their distance in y, is a correct painter's order for every camera,
// with no sort by depth whose ties could flicker. The beams live above the tokens: the same
// argument puts them before the columns when the eye is under them, after when above.

typedef struct {
    double cx, y0, y1, h; // centre x, bottom and top, half depth
    double hx;            // half width
    int i, layer;         // token; layer -1 is the token's own block
} Box3;

// A cache block is as wide as the model's kv heads are many against its query heads (2D: the
// same share, scene_block_box), so a GQA or MQA model's stacks are visibly thinner.
static Box3 box_of(const SceneLayout *L, int i, int layer, double drop) {
    if (layer < 0)
        return (Box3){i, drop, TOKEN_H + drop, TOKEN_HALF, TOKEN_HALF, i, -1};
    double top = block_top(layer);
    double hx = BLOCK_HALF * scene_cell_share(L->n_kv_heads, L->n_heads);
    return (Box3){i, top - BLOCK_H, top, BLOCK_HALF, hx, i, layer};
}

// Faces: corner indices round the face (corner k: x +h if k & 1, top if k & 2, z +h if k & 4),
// outward normal, how much light the face gets.
static const int face_corner[6][4] = {{0, 2, 6, 4}, {1, 5, 7, 3}, {0, 4, 5, 1},
                                      {2, 3, 7, 6}, {0, 1, 3, 2}, {4, 6, 7, 5}};
static const double face_normal[6][3] = {{-1, 0, 0}, {1, 0, 0},  {0, -1, 0},
                                         {0, 1, 0},  {0, 0, -1}, {0, 0, 1}};
static const double face_light[6] = {0.80, 0.80, 0.62, 1.12, 0.70, 0.94};

typedef struct {
    double sx[8], sy[8]; // the corners on the picture
    unsigned faces;      // bit f: face f faces the eye
} BoxProj;

// False when a corner is behind the camera (the box is then not drawn).
static bool box_project(const SceneLayout *L, const Box3 *b, BoxProj *p) {
    for (int k = 0; k < 8; k++) {
        V3 q = v3(b->cx + (k & 1 ? b->hx : -b->hx), k & 2 ? b->y1 : b->y0, k & 4 ? b->h : -b->h);
        if (!project(L, q, &p->sx[k], &p->sy[k], NULL))
            return false;
    }
    double fc[3] = {b->cx, (b->y0 + b->y1) / 2, 0}, ext[3] = {b->hx, (b->y1 - b->y0) / 2, b->h};
    p->faces = 0;
    for (int fi = 0; fi < 6; fi++) {
        double to_eye = 0;
        for (int a = 0; a < 3; a++)
            to_eye += (L->c3_eye[a] - fc[a] - face_normal[fi][a] * ext[a]) * face_normal[fi][a];
        if (to_eye > 1e-9)
            p->faces |= 1u << fi;
    }
    return true;
}

// Whether column i is drawn: in front of the near cut and on the picture.
static bool column_shown(const SceneLayout *L, int i) {
    double sx[2], sy[2];
    if (!project(L, v3(i, HEAD_Y, 0), &sx[0], &sy[0], NULL) ||
        !project(L, v3(i, stack_bottom(L->n_layers), 0), &sx[1], &sy[1], NULL))
        return false;
    V3 mid = v3(i, TOKEN_H / 2, 0);
    if (view_depth(L, mid) < L->c3_near)
        return false;
    double m = px_per_unit(L, mid);
    SceneRect a = L->beams;
    return fmax(sx[0], sx[1]) >= a.x - m && fmin(sx[0], sx[1]) <= a.x + a.w + m &&
           fmax(sy[0], sy[1]) >= a.y - m && fmin(sy[0], sy[1]) <= a.y + a.h + m;
}

typedef struct {
    double key;
    int i;
} Keyed;

static int keyed_far_first(const void *a, const void *b) {
    const Keyed *p = a, *q = b;
    if (p->key != q->key)
        return p->key < q->key ? 1 : -1;
    return p->i - q->i;
}

// The columns drawn, in drawing order, into order (n_tokens entries); returns how many.
static int columns_in_order(const SceneLayout *L, int *order) {
    int n = 0;
    Keyed *k = kv_malloc((size_t)(L->n_tokens > 0 ? L->n_tokens : 1) * sizeof *k);
    for (int i = 0; i < L->n_tokens; i++)
        if (column_shown(L, i))
            k[n++] = (Keyed){fabs(i - L->c3_eye[0]), i};
    qsort(k, (size_t)n, sizeof *k, keyed_far_first);
    for (int j = 0; j < n; j++)
        order[j] = k[j].i;
    free(k);
    return n;
}

// The boxes of column i in drawing order into out (n_layers + 1); returns how many. drop lifts
// the token's block (the new token dropping in).
static int column_boxes(const SceneLayout *L, int i, double drop, Box3 *out) {
    int n = 0;
    double ey = L->c3_eye[1], key[COLUMN_BOXES];
    for (int l = -1; l < L->n_layers && n < COLUMN_BOXES; l++) {
        Box3 b = box_of(L, i, l, l < 0 ? drop : 0);
        double d = ey > b.y1 ? ey - b.y1 : ey < b.y0 ? b.y0 - ey : 0;
        int j = n++; // insertion: farthest in y first, ties in layer order
        while (j > 0 && key[j - 1] < d) {
            out[j] = out[j - 1];
            key[j] = key[j - 1];
            j--;
        }
        out[j] = b;
        key[j] = d;
    }
    return n;
}

// ----------------------------------------------------------------------------------------------
// Hit test: the front-most box whose faces hold the point, in drawing order

static bool in_convex(const double *x, const double *y, const int *idx, int n, double px,
                      double py) {
    int sign = 0;
    for (int k = 0; k < n; k++) {
        int a = idx[k], b = idx[(k + 1) % n];
        double cross = (x[b] - x[a]) * (py - y[a]) - (y[b] - y[a]) * (px - x[a]);
        int s = cross > 0 ? 1 : cross < 0 ? -1 : 0;
        if (s && sign && s != sign)
            return false;
        sign = s ? s : sign;
    }
    return true;
}

bool scene3d_hit(const SceneLayout *L, double x, double y, int *token, int *layer) {
    if (L->kind != VIEW_3D || L->n_tokens <= 0)
        return false;
    // A label's plate is drawn over every box: pointing at it is pointing at its token.
    for (int k = 0; k < L->c3_n_labels; k++) {
        SceneRect r = L->c3_label[k].plate;
        if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h) {
            *token = L->c3_label[k].token;
            *layer = -1;
            return true;
        }
    }
    int *order = kv_malloc((size_t)L->n_tokens * sizeof *order);
    int nc = columns_in_order(L, order);
    bool hit = false;
    for (int k = 0; k < nc; k++) {
        Box3 boxes[COLUMN_BOXES];
        int nb = column_boxes(L, order[k], 0, boxes);
        for (int j = 0; j < nb; j++) {
            BoxProj p;
            if (!box_project(L, &boxes[j], &p))
                continue;
            for (int fi = 0; fi < 6; fi++)
                if (p.faces >> fi & 1 && in_convex(p.sx, p.sy, face_corner[fi], 4, x, y)) {
                    hit = true; // drawn later, so over what was hit before
                    *token = boxes[j].i;
                    *layer = boxes[j].layer;
                    break;
                }
        }
    }
    free(order);
    return hit;
}

int scene_3d_hit_token(const SceneLayout *L, double x, double y) {
    int token, layer;
    return scene3d_hit(L, x, y, &token, &layer) ? token : -1;
}

// ----------------------------------------------------------------------------------------------
// Direct rasterizer for image targets. cairo's antialiased fill costs a few microseconds a
// call and more per row than the faces of a few hundred boxes can afford in a frame, so on an
// opaque image target every face, edge and beam segment of the scene is a convex polygon filled
// here: per pixel row, the coverage of a pixel is the exact area of the polygon inside it (the
// area left of the right boundary minus the area left of the left one, each boundary a line
// piece across the row), the run between the boundaries is filled whole. Vector targets and
// transparent pictures keep cairo's fills and strokes, in the same order.

// The view's area on whole pixels (scene_draw clips the view to it so).
static bool raster_begin(Frame *f, SceneRaster *r) {
    if (f->vector || f->v->transparent)
        return false;
    const SceneRect a = f->lay->main;
    const SceneRect px = {floor(a.x), floor(a.y), ceil(a.w), ceil(a.h)};
    return scene_raster_begin(f->cr, px, r);
}

static uint32_t rgb_word(Rgba c) {
    return (uint32_t)(clampd(c.r, 0, 1) * 255 + 0.5) << 16 |
           (uint32_t)(clampd(c.g, 0, 1) * 255 + 0.5) << 8 |
           (uint32_t)(clampd(c.b, 0, 1) * 255 + 0.5);
}

// Pixel p becomes rgb at strength a (0 .. 256) over what it was, red and blue in one word.
static inline void put(uint32_t *p, uint32_t rgb, uint32_t a) {
    if (a >= 256) {
        *p = 0xff000000u | rgb;
        return;
    }
    uint32_t d = *p, na = 256 - a;
    uint32_t rb = ((rgb & 0xff00ffu) * a + (d & 0xff00ffu) * na) >> 8 & 0xff00ffu;
    uint32_t g = ((rgb & 0xff00u) * a + (d & 0xff00u) * na) >> 8 & 0xff00u;
    *p = 0xff000000u | rb | g;
}

// fmin and fmax without their care for NaN (the callers have none): these loops are hot.
static inline double dmin(double a, double b) {
    return a < b ? a : b;
}

static inline double dmax(double a, double b) {
    return a > b ? a : b;
}

// The integral of clamp(u, 0, 1) from 0 to u.
static inline double ramp_area(double u) {
    return u <= 0 ? 0 : u < 1 ? 0.5 * u * u : u - 0.5;
}

typedef struct {
    double x, y0, y1, dxdy, dydx; // x at y0, from y0 down to y1; dydx 0 when upright
} Edge;

// A boundary's piece across one pixel row: x runs from xa to xb over height h.
typedef struct {
    double xa, xb, h, h_per_dx; // h_per_dx: h / (xb - xa) (the edge's dy/dx), 0 if upright
} Piece;

// The area of pixel column [c, c + 1] left of the piece: the integral over the piece of
// clamp(x - c, 0, 1).
static inline double area_left(const Piece *p, double c) {
    double ua = p->xa - c, ub = p->xb - c;
    if (p->h_per_dx == 0)
        return p->h * (ua <= 0 ? 0 : ua >= 1 ? 1 : ua);
    return (ramp_area(ub) - ramp_area(ua)) * p->h_per_dx;
}

// The pieces of edges e across the row from yt to yb into out; their least and greatest x.
static int row_pieces(const Edge *e, int n, double yt, double yb, Piece *out, double *lo,
                      double *hi) {
    int m = 0;
    for (int k = 0; k < n; k++) {
        double a = dmax(yt, e[k].y0), b = dmin(yb, e[k].y1);
        if (b <= a)
            continue;
        Piece q = {e[k].x + (a - e[k].y0) * e[k].dxdy, e[k].x + (b - e[k].y0) * e[k].dxdy, b - a,
                   e[k].dydx};
        *lo = dmin(*lo, dmin(q.xa, q.xb));
        *hi = dmax(*hi, dmax(q.xa, q.xb));
        out[m++] = q;
    }
    return m;
}

static inline void put_cover(uint32_t *p, uint32_t rgb, double cov, int a256) {
    int a = (int)((cov <= 0 ? 0 : cov >= 1 ? 1 : cov) * a256 + 0.5);
    if (a > 0)
        put(p, rgb, (uint32_t)a);
}

// Fills the convex polygon (xs, ys) (n <= 8 corners, user space) with rgb at strength a256.
static void raster_fill(const SceneRaster *r, const double *xs, const double *ys, int n,
                        uint32_t rgb, int a256) {
    if (n < 3 || n > 8 || a256 <= 0)
        return;
    double x[8], y[8], area2 = 0, ymin = 1e300, ymax = -1e300, xmin = 1e300, xmax = -1e300;
    for (int k = 0; k < n; k++) {
        x[k] = xs[k] + r->ox, y[k] = ys[k] + r->oy;
        xmin = dmin(xmin, x[k]), xmax = dmax(xmax, x[k]);
        ymin = dmin(ymin, y[k]), ymax = dmax(ymax, y[k]);
    }
    for (int k = 0; k < n; k++) {
        int j = (k + 1) % n;
        area2 += x[k] * y[j] - x[j] * y[k];
    }
    if (!(fabs(area2) > 1e-9) || !(xmax > r->x0) || !(xmin < r->x1) || !(ymax > r->y0) ||
        !(ymin < r->y1))
        return; // empty, not a number, or off the picture
    // With y down, a polygon of positive area goes clockwise: its downward edges bound it on
    // the right.
    Edge le[8], re[8];
    int nle = 0, nre = 0;
    for (int k = 0; k < n; k++) {
        int j = (k + 1) % n;
        if (y[k] == y[j])
            continue;
        bool down = y[j] > y[k];
        Edge e = down ? (Edge){x[k], y[k], y[j], (x[j] - x[k]) / (y[j] - y[k]), 0}
                      : (Edge){x[j], y[j], y[k], (x[k] - x[j]) / (y[k] - y[j]), 0};
        if (fabs(e.dxdy) > 1e-9)
            e.dydx = 1 / e.dxdy;
        if (down == (area2 > 0))
            re[nre++] = e;
        else
            le[nle++] = e;
    }
    // Coordinates are clamped to the clip before they become ints (a point far off the picture
    // would not fit one).
    int py0 = scene_ifloor(dmax(ymin, r->y0)), py1 = scene_iceil(dmin(ymax, r->y1));
    uint32_t solid = 0xff000000u | rgb;
    for (int py = py0; py < py1; py++) {
        double yt = dmax(py, ymin), yb = dmin(py + 1.0, ymax), h = yb - yt;
        if (h <= 0)
            continue;
        Piece lp[8], rp[8];
        double lmin = 1e300, lmax = -1e300, rmin = 1e300, rmax = -1e300;
        int nl = row_pieces(le, nle, yt, yb, lp, &lmin, &lmax);
        int nr = row_pieces(re, nre, yt, yb, rp, &rmin, &rmax);
        if (nl == 0 || nr == 0)
            continue;
        double x0 = r->x0, x1 = r->x1;
        int c0 = scene_ifloor(dmax(lmin, x0)), c1 = scene_iceil(dmin(rmax, x1));
        // [il, ir): columns wholly between the sides
        int il = scene_iceil(dmin(dmax(lmax, x0), x1)), ir = scene_ifloor(dmin(dmax(rmin, x0), x1));
        uint32_t *row = r->px + (ptrdiff_t)py * r->stride;
        if (il >= ir) { // a sliver: both sides cross the same pixels
            for (int cx = c0; cx < c1; cx++) {
                double cov = 0;
                for (int k = 0; k < nr; k++)
                    cov += area_left(&rp[k], cx);
                for (int k = 0; k < nl; k++)
                    cov -= area_left(&lp[k], cx);
                put_cover(&row[cx], rgb, cov, a256);
            }
            continue;
        }
        // Left of il only the left side cuts a pixel (the right one is whole: h), right of ir
        // only the right side (nothing is left of the left one).
        int e0 = il < c1 ? il : c1;
        for (int cx = c0; cx < e0; cx++) {
            double cov = h;
            for (int k = 0; k < nl; k++)
                cov -= area_left(&lp[k], cx);
            put_cover(&row[cx], rgb, cov, a256);
        }
        int m0 = il > c0 ? il : c0, m1 = ir < c1 ? ir : c1;
        uint32_t full = (uint32_t)(h * a256 + 0.5);
        if (full >= 256)
            for (int cx = m0; cx < m1; cx++)
                row[cx] = solid;
        else if (full > 0)
            for (int cx = m0; cx < m1; cx++)
                put(&row[cx], rgb, full);
        for (int cx = ir > c0 ? ir : c0; cx < c1; cx++) {
            double cov = 0;
            for (int k = 0; k < nr; k++)
                cov += area_left(&rp[k], cx);
            put_cover(&row[cx], rgb, cov, a256);
        }
    }
}

// A line a -> b of width w as a polygon; cap: reaching half a width past both ends (so that
// the edges of a box meet at its corners).
static void raster_line(const SceneRaster *r, double ax, double ay, double bx, double by, double w,
                        bool cap, uint32_t rgb, int a256) {
    double dx = bx - ax, dy = by - ay, len = hypot(dx, dy);
    if (!(len > 1e-9))
        return;
    double ux = dx / len * w / 2, uy = dy / len * w / 2, ex = cap ? ux : 0, ey = cap ? uy : 0;
    double xs[4] = {ax - ex - uy, bx + ex - uy, bx + ex + uy, ax - ex + uy};
    double ys[4] = {ay - ey + ux, by + ey + ux, by + ey - ux, ay - ey - ux};
    raster_fill(r, xs, ys, 4, rgb, a256);
}

// ----------------------------------------------------------------------------------------------
// Painting: one interface, the rasterizer or cairo

typedef struct {
    Frame *f;
    SceneRaster ras;
    bool direct;   // the rasterizer paints
    float *weight; // attention of the head's row to every key, or NULL
    double fan;    // how far the beams have fanned out
    double min_px; // smallest text the view draws
    // cairo: faces of one colour in a row go into one path, filled once.
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

static bool same_rgba(Rgba a, Rgba b) {
    return a.r == b.r && a.g == b.g && a.b == b.b && a.a == b.a;
}

// Fills the convex polygon of n corners (indices idx into x, y, or the first n when idx is
// NULL) in col.
static void paint_poly(Ctx3 *c, const double *x, const double *y, const int *idx, int n, Rgba col) {
    double px[8], py[8];
    for (int k = 0; k < n && k < 8; k++)
        px[k] = x[idx ? idx[k] : k], py[k] = y[idx ? idx[k] : k];
    if (c->direct) {
        raster_fill(&c->ras, px, py, n, rgb_word(col), (int)(clampd(col.a, 0, 1) * 256 + 0.5));
        return;
    }
    cairo_t *cr = c->f->cr;
    if (c->pending && !same_rgba(col, c->pend))
        batch_flush(c);
    c->pend = col;
    c->pending = true;
    cairo_move_to(cr, px[0], py[0]);
    for (int k = 1; k < n; k++)
        cairo_line_to(cr, px[k], py[k]);
    cairo_close_path(cr);
}

// The edges of the faces of p that face the eye, each once.
static void paint_edges(Ctx3 *c, const BoxProj *p, Rgba col, double w) {
    if (!c->direct) {
        batch_flush(c);
        cairo_t *cr = c->f->cr;
        for (int fi = 0; fi < 6; fi++) {
            if (!(p->faces >> fi & 1))
                continue;
            const int *q = face_corner[fi];
            cairo_move_to(cr, p->sx[q[0]], p->sy[q[0]]);
            for (int j = 1; j < 4; j++)
                cairo_line_to(cr, p->sx[q[j]], p->sy[q[j]]);
            cairo_close_path(cr);
        }
        scene_set_rgba(cr, col);
        cairo_set_line_width(cr, w);
        cairo_stroke(cr);
        return;
    }
    uint32_t rgb = rgb_word(col);
    uint64_t done = 0; // bit a * 8 + b: the edge from corner a to corner b > a is drawn
    int a256 = (int)(clampd(col.a, 0, 1) * 256 + 0.5);
    for (int fi = 0; fi < 6; fi++) {
        if (!(p->faces >> fi & 1))
            continue;
        for (int j = 0; j < 4; j++) {
            int a = face_corner[fi][j], b = face_corner[fi][(j + 1) % 4];
            uint64_t bit = (uint64_t)1 << (a < b ? a * 8 + b : b * 8 + a);
            if (done & bit)
                continue;
            done |= bit;
            raster_line(&c->ras, p->sx[a], p->sy[a], p->sx[b], p->sy[b], w, true, rgb, a256);
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Drawing

static Rgba shade(Rgba c, double k) {
    if (k > 1) {
        double w = k - 1;
        return (Rgba){c.r + (1 - c.r) * w, c.g + (1 - c.g) * w, c.b + (1 - c.b) * w, c.a};
    }
    return (Rgba){c.r * k, c.g * k, c.b * k, c.a};
}

static Rgba mix(Rgba a, Rgba b, double t) {
    return (Rgba){a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t,
                  a.a + (b.a - a.a) * t};
}

// Clips the convex polygon (u, v) of n corners to the side of u + v = lim where
// sign * (u + v - lim) >= 0; returns the corners left (at most n + 1).
static int clip_diagonal(double *u, double *v, int n, double lim, double sign) {
    double ou[8], ov[8];
    int m = 0;
    for (int k = 0; k < n; k++) {
        int j = (k + 1) % n;
        double dk = sign * (u[k] + v[k] - lim), dj = sign * (u[j] + v[j] - lim);
        if (dk >= 0 && m < 8)
            ou[m] = u[k], ov[m++] = v[k];
        if ((dk >= 0) != (dj >= 0) && m < 8) {
            double t = dk / (dk - dj);
            ou[m] = u[k] + t * (u[j] - u[k]), ov[m++] = v[k] + t * (v[j] - v[k]);
        }
    }
    memcpy(u, ou, (size_t)m * sizeof *u);
    memcpy(v, ov, (size_t)m * sizeof *v);
    return m;
}

// Recomputed blocks carry dark diagonal stripes on their front (or back) face, as in the 2D
// views, so the state does not rest on colour alone.
static void paint_stripes(Ctx3 *c, const Box3 *b, const BoxProj *p, double ppu) {
    int fi = p->faces >> 5 & 1 ? 5 : p->faces >> 4 & 1 ? 4 : -1;
    const double period = 0.16, width = 0.055;
    if (fi < 0 || ppu * width < 1.2)
        return;
    double z = fi == 5 ? b->h : -b->h, w = 2 * b->hx, hgt = b->y1 - b->y0;
    Rgba dark = {0, 0, 0, 0.28};
    for (double lo = period / 2 - hgt; lo < w; lo += period) {
        double u[8] = {0, w, w, 0}, v[8] = {0, 0, hgt, hgt};
        int m = clip_diagonal(u, v, 4, lo, 1);
        m = clip_diagonal(u, v, m, lo + width, -1);
        if (m < 3)
            continue;
        double sx[8], sy[8];
        bool ok = true;
        for (int k = 0; k < m && ok; k++)
            ok =
                project(c->f->lay, v3(b->cx - b->hx + u[k], b->y0 + v[k], z), &sx[k], &sy[k], NULL);
        if (ok)
            paint_poly(c, sx, sy, NULL, m, dark);
    }
}

// The hull of the corners on the picture (gift wrapping), into hull; returns its size.
static int box_hull(const BoxProj *p, int *hull) {
    int nh = 0, start = 0;
    for (int k = 1; k < 8; k++)
        if (p->sx[k] < p->sx[start] || (p->sx[k] == p->sx[start] && p->sy[k] < p->sy[start]))
            start = k;
    int cur = start;
    do {
        hull[nh++] = cur;
        int next = (cur + 1) % 8;
        for (int k = 0; k < 8; k++) {
            double cross = (p->sx[next] - p->sx[cur]) * (p->sy[k] - p->sy[cur]) -
                           (p->sy[next] - p->sy[cur]) * (p->sx[k] - p->sx[cur]);
            if (cross < 0)
                next = k;
        }
        cur = next;
    } while (cur != start && nh < 8);
    return nh;
}

// The point of face fi of b at (a, t) in 0 .. 1 along the face's two axes: x (or z for the
// faces across x) and y (or z for the top and bottom).
static V3 face_point(const Box3 *b, int fi, double a, double t) {
    const double x0 = b->cx - b->hx, w = 2 * b->hx, z0 = -b->h, d = 2 * b->h, h = b->y1 - b->y0;
    switch (fi >> 1) {
    case 0:
        return v3(fi & 1 ? x0 + w : x0, b->y0 + t * h, z0 + a * d);
    case 1:
        return v3(x0 + a * w, fi & 1 ? b->y1 : b->y0, z0 + t * d);
    default:
        return v3(x0 + a * w, b->y0 + t * h, fi & 1 ? z0 + d : z0);
    }
}

// Fills the part a0 .. a1, t0 .. t1 of face fi of b.
static void paint_face_part(Ctx3 *c, const Box3 *b, int fi, double a0, double a1, double t0,
                            double t1, Rgba col) {
    const double as[4] = {a0, a1, a1, a0}, ts[4] = {t0, t0, t1, t1};
    double x[4], y[4];
    for (int k = 0; k < 4; k++)
        if (!project(c->f->lay, face_point(b, fi, as[k], ts[k]), &x[k], &y[k], NULL))
            return;
    paint_poly(c, x, y, NULL, 4, col);
}

// The marks of a cell's style on its faces toward the eye, as the 2D views cut them: the
// ghosts of the kv heads that evicted it (h2o), the precision's bands in the background's
// colour (across the height of the sides, across the depth of the top), and the gaps between
// its kv heads' parts.
static void paint_cell_marks(Ctx3 *c, const Box3 *b, const BoxProj *p, const SceneCellStyle *st,
                             double ppu) {
    const Theme *th = c->f->th;
    const int hkv = st->kv_heads;
    const double part_px = ppu * 2 * b->hx / hkv, gap_px = scene_cell_gap(c->f->u);
    const int bands = 2 * st->stripes + 1;
    const bool from_above = c->f->lay->c3_fwd[1] < -0.8;
    for (int fi = 0; fi < 6; fi++) {
        if (!(p->faces >> fi & 1))
            continue;
        const bool across_x = fi >= 2; // the face spans the kv heads' parts
        for (int g = 0; across_x && st->gone && g < hkv; g++)
            if (st->gone >> g & 1)
                paint_face_part(c, b, fi, (double)g / hkv, (double)(g + 1) / hkv, 0, 1,
                                shade(th->block[BLOCK_EMPTY], face_light[fi]));
        // the top carries the bands only seen from high above, where the sides are not seen
        const bool top = fi == 2 || fi == 3;
        const double depth_px = ppu * (top ? 2 * b->h : b->y1 - b->y0);
        const bool banded = st->stripes > 0 && depth_px / bands >= 1 && (!top || from_above);
        for (int j = 0; banded && j < bands; j += 2)
            paint_face_part(c, b, fi, 0, 1, (double)j / bands, (double)(j + 1) / bands, th->bg);
        // the gaps between kv heads on the front and back, and on the top only seen from high
        // above: each gap a polygon, so none where the front shows the parts already
        if (!across_x || hkv < 2 || part_px < 3 + gap_px || (top && !from_above))
            continue;
        const double ga = gap_px / (ppu * 2 * b->hx) / 2;
        for (int g = 1; g < hkv; g++)
            paint_face_part(c, b, fi, (double)g / hkv - ga, (double)g / hkv + ga, 0, 1, th->bg);
    }
}

static void report_cell(Ctx3 *c, const Box3 *b, const BoxProj *p, const SceneCellStyle *st) {
    const SceneCellSink *sink = c->f->v->cell_sink;
    if (!sink || !sink->fn)
        return;
    double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
    for (int k = 0; k < 8; k++) {
        x0 = fmin(x0, p->sx[k]), x1 = fmax(x1, p->sx[k]);
        y0 = fmin(y0, p->sy[k]), y1 = fmax(y1, p->sy[k]);
    }
    SceneCell cell = {b->i, b->layer, *st, {x0, y0, x1 - x0, y1 - y0}};
    sink->fn(sink->ctx, &cell);
}

static void draw_box(Ctx3 *c, const Box3 *b) {
    Frame *f = c->f;
    const SceneLayout *L = f->lay;
    const Theme *th = f->th;
    BoxProj p;
    if (!box_project(L, b, &p))
        return;
    double ppu = px_per_unit(L, v3(b->cx, b->y1, 0));
    Rgba col, edge = th->block_edge;
    double ew = 0;
    bool stripes = false;
    SceneCellStyle st = {.state = BLOCK_EMPTY};
    if (b->layer < 0) { // a token's block: the write head's and the new token's are outlined
        int i = b->i;
        col = i < f->s->n_prompt ? th->panel : th->panel_edge;
        bool mark = i == L->new_pos || i == L->head_pos;
        edge = i == L->new_pos ? th->new_token : i == L->head_pos ? th->head : th->block_edge;
        ew = mark ? fmax(1.5, 0.03 * ppu) : ppu * TOKEN_HALF > 18 ? fmax(1, 0.012 * ppu) : 0;
    } else {
        scene_cell_style(f->s, f->v, b->i, b->layer, f->t, &st);
        col = th->block[st.state];
        if (st.state == BLOCK_EMPTY) { // near the background colour: an edge
            ew = ppu * BLOCK_HALF > 6 ? fmax(1, 0.012 * ppu) : 0;
        } else if (st.state == BLOCK_EVICTED) { // a ghost: the empty colour, outlined
            edge = col;
            col = ppu * BLOCK_HALF > 4 ? th->block[BLOCK_EMPTY]
                                       : mix(th->block[BLOCK_EMPTY], col, 0.5);
            ew = ppu * BLOCK_HALF > 4 ? fmax(1, 0.02 * ppu) : 0;
        } else if (st.state == BLOCK_WRITTEN || st.state == BLOCK_RECOMPUTED) {
            // The flash: bright while the step computes this layer, fading out.
            double lt = scene_anim_layer_time(b->layer, L->n_layers);
            double flash = f->t >= 1 ? 0 : 1 - scene_anim_phase(f->t, lt, lt + 0.3);
            col = mix(col, (Rgba){1, 1, 1, col.a}, 0.45 * flash);
            stripes = st.state == BLOCK_RECOMPUTED;
        }
        if (st.sink) { // a sink position: outlined in the write head's colour, as in 2D
            edge = th->head;
            ew = fmax(1.5, 0.03 * ppu);
        }
        if (st.inspected) { // the inspector's cell, outlined as in 2D
            edge = th->pinned;
            ew = fmax(2, 0.2 * f->u);
        }
        report_cell(c, b, &p, &st);
    }
    if (ppu * b->h < 8 && ew <= 0) { // a few pixels: the outline of the box, one polygon
        int hull[8];
        int nh = box_hull(&p, hull);
        paint_poly(c, p.sx, p.sy, hull, nh, col);
        return;
    }
    for (int fi = 0; fi < 6; fi++)
        if (p.faces >> fi & 1)
            paint_poly(c, p.sx, p.sy, face_corner[fi], 4, shade(col, face_light[fi]));
    if (stripes)
        paint_stripes(c, b, &p, ppu);
    if (b->layer >= 0 && (st.stripes > 0 || st.kv_heads > 1 || st.gone))
        paint_cell_marks(c, b, &p, &st, ppu);
    if (ew > 0)
        paint_edges(c, &p, edge, ew);
}

// A beam from the write head to token k: a quadratic curve rising above the tokens and bowing
// back behind them (-z), so FRONT shows arcs and TOP shows the fan as a flat graph.
static V3 beam_at(int head, int k, double t) {
    double d = fabs((double)head - k);
    V3 a = v3(head, HEAD_Y, 0), b = v3(k, TOKEN_H, 0); // on the top of token k's block
    V3 c = v3((head + k) / 2.0, HEAD_Y + 0.3 + 0.25 * sqrt(d), -0.5 - 0.35 * d);
    double mt = 1 - t;
    return v3(mt * mt * a.x + 2 * mt * t * c.x + t * t * b.x,
              mt * mt * a.y + 2 * mt * t * c.y + t * t * b.y,
              mt * mt * a.z + 2 * mt * t * c.z + t * t * b.z);
}

#define BEAM_FLOOR (TOKEN_H + 0.025) // between the tokens' tops and the beams' lowest points

static void beam_style(Ctx3 *c, float w, Rgba *col, double *alpha, double *width, double ppu) {
    double m = sqrt(clampd(w, 0, 1));
    *col = scene_theme_ramp(c->f->th, m);
    *alpha = (0.30 + 0.70 * m) * (0.4 + 0.6 * c->fan);
    *width = fmax(1.0, ppu * (0.012 + 0.07 * m * m));
}

// Beam k, grown from the head as far as the fan has come, in BEAM_PIECES pieces of BEAM_SEGS
// straight segments, each piece as wide as perspective makes it there.
static void draw_beam(Ctx3 *c, int k) {
    Frame *f = c->f;
    const SceneLayout *L = f->lay;
    int head = L->head_pos;
    const SceneBeamSink *sink = f->v->beam_sink;
    double ex, ey; // where the beam ends (once fanned out)
    if (sink && sink->fn && project(L, beam_at(head, k, 1), &ex, &ey, NULL)) {
        SceneBeam sb = {head, k,  f->v->layer, f->v->head >= 0 ? f->v->head : -1,
                        ex,   ey, c->weight[k]};
        sink->fn(sink->ctx, &sb);
    }
    for (int piece = 0; piece < BEAM_PIECES; piece++) {
        double t0 = (double)piece / BEAM_PIECES, t1 = (double)(piece + 1) / BEAM_PIECES;
        if (t0 >= c->fan)
            break;
        t1 = fmin(t1, c->fan);
        Rgba col;
        double alpha, width;
        beam_style(c, c->weight[k], &col, &alpha, &width,
                   px_per_unit(L, beam_at(head, k, (t0 + t1) / 2)));
        double x[BEAM_SEGS + 1], y[BEAM_SEGS + 1];
        bool ok[BEAM_SEGS + 1];
        for (int s = 0; s <= BEAM_SEGS; s++)
            ok[s] =
                project(L, beam_at(head, k, t0 + (t1 - t0) * s / BEAM_SEGS), &x[s], &y[s], NULL);
        if (c->direct) {
            uint32_t rgb = rgb_word(col);
            int a256 = (int)(clampd(alpha * col.a, 0, 1) * 256 + 0.5);
            for (int s = 0; s < BEAM_SEGS; s++)
                if (ok[s] && ok[s + 1])
                    raster_line(&c->ras, x[s], y[s], x[s + 1], y[s + 1], width, false, rgb, a256);
            continue;
        }
        batch_flush(c);
        cairo_t *cr = f->cr;
        bool started = false;
        for (int s = 0; s <= BEAM_SEGS; s++) {
            if (!ok[s]) {
                started = false;
                continue;
            }
            if (started)
                cairo_line_to(cr, x[s], y[s]);
            else
                cairo_move_to(cr, x[s], y[s]);
            started = true;
        }
        scene_set_rgba_a(cr, col, alpha);
        cairo_set_line_width(cr, width);
        cairo_stroke(cr);
    }
}

// Where token i's label stands: over the block, on the side facing the camera (so that from
// above it sits at the block's front edge and leaves the write head, over the centre, in
// view); lifted: above the block, and from above just in front of it.
static V3 label_point(const SceneLayout *L, int i, bool lifted) {
    double up = -L->c3_fwd[1]; // sin(elevation)
    up = up > 0 ? up : 0;
    double fz = L->c3_eye[2] > 0 ? 1 : -1; // the side of the row the camera is on
    if (lifted)
        return v3(i, TOKEN_H + 0.32 * (1 - up), fz * (TOKEN_HALF + 0.3) * up);
    return v3(i, TOKEN_H / 2 + TOKEN_H / 2 * up, fz * TOKEN_HALF * 0.8 * up);
}

// The label's type size on the picture for token i; false when too small to read.
static bool label_size(const SceneLayout *L, int i, double min_px, double *size) {
    double ppu = px_per_unit(L, v3(i, TOKEN_H, 0));
    double sz = fmin(0.30 * ppu, 2.2 * min_px);
    if (sz < 0.8 * min_px)
        return false;
    *size = fmax(sz, min_px);
    return true;
}

typedef struct {
    double x0, y0, x1, y1;
} Box;

// The bounding box on the picture of the corners of the box x0..x1, y0..y1, z0..z1; false when
// a corner is behind the camera.
static bool screen_box(const SceneLayout *L, const double *x, const double *y, const double *z,
                       Box *out) {
    Box b = {1e300, 1e300, -1e300, -1e300};
    for (int q = 0; q < 8; q++) {
        double px, py;
        if (!project(L, v3(x[q & 1], y[q >> 1 & 1], z[q >> 2 & 1]), &px, &py, NULL))
            return false;
        b = (Box){fmin(b.x0, px), fmin(b.y0, py), fmax(b.x1, px), fmax(b.y1, py)};
    }
    *out = b;
    return true;
}

// Labels, nearest column first (the order of the hit test; the drawing goes the other way): each
// large enough to read, covering no nearer label and not covered by a nearer column (its token
// block and stack). Where a label stands is a rule of its own token's geometry alone, so that it
// changes once when the camera crosses the rule's edge and never flickers with its neighbours:
// on the block while the plate is no wider than the block's front (both measured at the
// block's distance: the azimuth does not enter); wider plates stagger, every other token's
// lifted above its block (a neighbour's wide plate then passes over or under it).
static void place_labels(const Session *s, SceneLayout *L) {
    L->c3_n_labels = 0;
    const int n = L->n_tokens;
    if (n <= 0)
        return;
    const double min_px = 14.0 * fmin(L->height / 720.0, L->width / 1280.0);
    const double bottom = stack_bottom(L->n_layers);
    int *order = kv_malloc((size_t)n * sizeof *order);
    Box *cols = kv_malloc((size_t)n * sizeof *cols);
    const int nc = columns_in_order(L, order);
    size_t n_cols = 0;
    // the text measured as scene_draw's image targets measure it
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(surf);
    TextCtx tx;
    scene_text_begin(&tx, cr, NULL);
    char buf[96];
    for (int k = nc; k-- > 0;) {
        const int i = order[k];
        const double tx0[2] = {i - TOKEN_HALF, i + TOKEN_HALF}, tz[2] = {-TOKEN_HALF, TOKEN_HALF};
        const double col_y[2] = {bottom, TOKEN_H};
        Box col;
        const bool col_ok = screen_box(L, tx0, col_y, tz, &col);
        double size, lh, x, y;
        if (col_ok && label_size(L, i, min_px, &size) && L->c3_n_labels < SCENE_3D_LABELS) {
            scene_token_display(s, i, buf, sizeof buf);
            const double tw = scene_text_width(&tx, size, i >= s->n_prompt, buf, &lh);
            const double w = tw + 0.6 * size;
            const bool lifted = w / px_per_unit(L, v3(i, TOKEN_H, 0)) > 2 * TOKEN_HALF && i % 2;
            if (project(L, label_point(L, i, lifted), &x, &y, NULL)) {
                const Box b = {x - w / 2, y - lh / 2 - 0.1 * size, x + w / 2,
                               y + lh / 2 + 0.1 * size};
                bool free_spot = true;
                for (int j = 0; j < L->c3_n_labels && free_spot; j++) {
                    const SceneRect t = L->c3_label[j].plate;
                    free_spot =
                        b.x1 <= t.x || b.x0 >= t.x + t.w || b.y1 <= t.y || b.y0 >= t.y + t.h;
                }
                const double area = (b.x1 - b.x0) * (b.y1 - b.y0);
                for (size_t j = 0; j < n_cols && free_spot; j++) {
                    double ox = fmin(b.x1, cols[j].x1) - fmax(b.x0, cols[j].x0);
                    double oy = fmin(b.y1, cols[j].y1) - fmax(b.y0, cols[j].y0);
                    free_spot = !(ox > 0 && oy > 0 && ox * oy > 0.2 * area);
                }
                if (free_spot)
                    L->c3_label[L->c3_n_labels++] = (Scene3dLabel){
                        i, lifted, x, y, size, tw, lh, {b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0}};
            }
        }
        if (col_ok)
            cols[n_cols++] = col;
    }
    scene_text_end(&tx);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    free(cols);
    free(order);
}

// A label: a billboard over its block, drawn after every block so that it is never cut; only
// labels no nearer column covers are in the layout.
static void draw_label(Ctx3 *c, const Scene3dLabel *lb) {
    Frame *f = c->f;
    const Theme *th = f->th;
    const SceneLayout *L = f->lay;
    const int i = lb->token;
    const bool prompt = i < f->s->n_prompt;
    double x = lb->x, y = lb->y, dy = 0;
    if (i == L->new_pos && f->t < 1) {
        double x2, y2;
        V3 p = label_point(L, i, lb->lifted);
        p.y += (1 - scene_anim_drop(f->t)) * 1.4;
        if (project(L, p, &x2, &y2, NULL))
            dy = y2 - y, y = y2;
    }
    Rgba edge = i == L->new_pos ? th->new_token : i == L->head_pos ? th->head : th->block_edge;
    char buf[96];
    scene_token_display(f->s, i, buf, sizeof buf);
    cairo_t *cr = f->cr;
    // The billboard: a plate in the panel colour, so the text's contrast is the 2D token row's.
    const SceneRect r = lb->plate;
    scene_set_rgba(cr, th->panel);
    cairo_rectangle(cr, r.x, r.y + dy, r.w, r.h);
    cairo_fill_preserve(cr);
    scene_set_rgba(cr, edge);
    cairo_set_line_width(cr, fmax(1, 0.08 * lb->size));
    cairo_stroke(cr);
    scene_text_role(&f->tx, SCENE_TEXT_TOKEN); // the model's text: its words are not labels
    scene_text_draw(&f->tx, x, y - lb->lh / 2, lb->size, !prompt, ALIGN_CENTER, 0,
                    prompt ? th->prompt_text : th->gen_text, buf);
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);
}

static void draw_head(Ctx3 *c) {
    Frame *f = c->f;
    const SceneLayout *L = f->lay;
    double x, y, bx, by;
    if (!scene3d_head_point(L, &x, &y))
        return;
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
static bool on_picture(SceneRect a, const double *x, const double *y, int n, double margin) {
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (int k = 0; k < n; k++) {
        x0 = fmin(x0, x[k]), x1 = fmax(x1, x[k]);
        y0 = fmin(y0, y[k]), y1 = fmax(y1, y[k]);
    }
    return x1 >= a.x - margin && x0 <= a.x + a.w + margin && y1 >= a.y - margin &&
           y0 <= a.y + a.h + margin;
}

// The beams drawn, weakest first (so that strong beams lie on top), into keys; returns how
// many. Every key the head's row reads with a weight at the threshold or more, on the picture.
static int beams_in_order(Ctx3 *c, Keyed *keys) {
    Frame *f = c->f;
    const SceneLayout *L = f->lay;
    int head = L->head_pos, n = 0;
    float thr = f->v->beam_threshold > 0 ? f->v->beam_threshold : 0;
    for (int k = 0; k < head; k++) {
        float w = view_attention(f->s, f->v, head, k);
        c->weight[k] = w;
        if (!(w >= thr) || w <= 0)
            continue;
        double bx[3], by[3];
        bool ok = project(L, beam_at(head, k, 0), &bx[0], &by[0], NULL) &&
                  project(L, beam_at(head, k, 0.5), &bx[1], &by[1], NULL) &&
                  project(L, beam_at(head, k, 1), &bx[2], &by[2], NULL);
        if (ok && !on_picture(L->beams, bx, by, 3, 0.1 * L->beams.w))
            continue;
        keys[n++] = (Keyed){-w, k}; // far first = smallest -w last: weakest first
    }
    qsort(keys, (size_t)n, sizeof *keys, keyed_far_first);
    return n;
}

void scene_3d_draw(Frame *f) {
    const SceneLayout *L = f->lay;
    int n = L->n_tokens;
    size_t nn = (size_t)(n > 0 ? n : 1);
    Ctx3 c = {.f = f};
    c.fan = scene_anim_fan(f->t);
    c.min_px = 14.0 * fmin(L->height / 720.0, L->width / 1280.0); // 14 px at 1280x720
    c.weight = kv_calloc(nn, sizeof *c.weight);
    int *order = kv_malloc(nn * sizeof *order);
    int nc = columns_in_order(L, order);
    Keyed *beams = kv_malloc(nn * sizeof *beams);
    int nb = L->head_pos >= 0 && c.fan > 0 ? beams_in_order(&c, beams) : 0;

    cairo_t *cr = f->cr;
    cairo_save(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    c.direct = raster_begin(f, &c.ras);
    bool beams_under = L->c3_eye[1] < BEAM_FLOOR; // the eye under the beams: columns may cover them
    for (int k = 0; beams_under && k < nb; k++)
        draw_beam(&c, beams[k].i);
    for (int k = 0; k < nc; k++) {
        int i = order[k];
        double drop = i == L->new_pos && f->t < 1 ? (1 - scene_anim_drop(f->t)) * 1.4 : 0;
        Box3 boxes[COLUMN_BOXES];
        int m = column_boxes(L, i, drop, boxes);
        for (int j = 0; j < m; j++)
            draw_box(&c, &boxes[j]);
    }
    batch_flush(&c);
    for (int k = 0; !beams_under && k < nb; k++)
        draw_beam(&c, beams[k].i);
    if (c.direct)
        scene_raster_end(f->cr, &c.ras);
    for (int k = L->c3_n_labels; k-- > 0;) // nearer labels over farther ones
        draw_label(&c, &L->c3_label[k]);
    draw_head(&c); // after the labels: nothing hides the write head
    cairo_restore(cr);
    // Which camera, in the corner.
    char cam[64];
    snprintf(cam, sizeof cam, "camera: %s%s", view_camera_name(f->v->camera),
             f->v->cam_fit ? " (whole sequence)" : "");
    SceneRect a = L->beams;
    scene_text_draw(&f->tx, a.x + 0.3 * f->u, a.y + 0.2 * f->u, c.min_px, false, ALIGN_LEFT, 0,
                    f->th->text_dim, cam);
    free(beams);
    free(order);
    free(c.weight);
}
