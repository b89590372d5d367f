// views.c — the view table: every view the picture can show is one row here (its name on the
// command line and in lessons, its layout, its drawing, its hit test, what its legend shows),
// and everything that picks a view by its kind goes through this table. A new view is an enum
// value in view.h, its own file with those functions, and one row below.
#include "view/scene_internal.h"
#include <string.h>
#include <stdio.h>

static const SceneView views[VIEW_KINDS] = {
    [VIEW_SEQUENCE] = {"sequence", scene_sequence_layout, scene_sequence_draw, scene_hit_columns,
                       SCENE_LEGEND_BLOCKS | SCENE_LEGEND_BEAMS},
    [VIEW_HEATMAP] = {"heatmap", scene_heatmap_layout, scene_heatmap_draw, scene_heatmap_hit_token,
                      0},
    [VIEW_LAYERS] = {"layers", scene_layers_layout, scene_layers_draw, scene_hit_columns,
                     SCENE_LEGEND_BLOCKS | SCENE_LEGEND_BEAMS},
    [VIEW_MEMORY] = {"memory", scene_memory_layout, scene_memory_draw, scene_memory_hit_token, 0},
    [VIEW_3D] = {"3d", scene_3d_layout, scene_3d_draw, scene_3d_hit_token,
                 SCENE_LEGEND_BLOCKS | SCENE_LEGEND_BEAMS},
    [VIEW_SAMPLING] = {"sampling", scene_sampling_layout, scene_sampling_draw,
                       scene_memory_hit_token, 0},
    [VIEW_POOL] = {"pool", scene_pool_row_layout, scene_pool_row_draw, scene_pool_row_hit, 0},
};

const SceneView *scene_view(ViewKind k) {
    return &views[(unsigned)k < VIEW_KINDS ? k : VIEW_SEQUENCE];
}

// ----------------------------------------------------------------------------------------------
// The View and view names

void view_init(View *v) {
    memset(v, 0, sizeof *v);
    v->kind = VIEW_SEQUENCE;
    v->layer = VIEW_ALL_LAYERS;
    v->head = VIEW_HEAD_MEAN;
    v->theme = THEME_DARK;
    v->zoom = 1;
    v->hover = -1;
    v->pinned = -1;
    v->beam_threshold = 0.02f;
    v->show_panels = true;
    v->memory_model = -1;
    v->camera = CAMERA_FRONT;
    view_camera_target(v, &v->cam_az, &v->cam_el);
    v->orbit_az = 35;
    v->orbit_el = 25;
    v->cam_zoom = 1;
    v->pool_seq = -1;
}

const char *view_kind_name(ViewKind k) {
    return (unsigned)k < VIEW_KINDS ? views[k].name : "?";
}

int view_kind_parse(const char *name) {
    for (int k = 0; k < VIEW_KINDS; k++)
        if (name && strcmp(name, views[k].name) == 0)
            return k;
    return -1;
}

void view_kind_list(char *out, size_t cap, const char *sep) {
    size_t o = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    for (int k = 0; k < VIEW_KINDS && o < cap; k++) {
        int n = snprintf(out + o, cap - o, "%s%s", k ? sep : "", views[k].name);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

// ----------------------------------------------------------------------------------------------
// Layout and hit tests, through the row

void scene_layout(const Session *s, const View *v, int width, int height, SceneLayout *L) {
    SceneRect area = scene_layout_frame(s, v, width, height, L);
    const SceneView *row = scene_view(v->kind);
    L->kind = (ViewKind)(row - views);
    row->layout(s, v, area, L);
}

int scene_hit_token(const SceneLayout *l, double x, double y) {
    return scene_view(l->kind)->hit_token(l, x, y);
}
