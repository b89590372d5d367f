// raster.c — direct access to an image target's pixels, for the rasterizers of the beams
// (beams.c) and of the 3D view (view_3d.c), which fill on opaque images what cairo's span
// compositor would take far longer to (see those files).
#include "view/scene_internal.h"
#include <math.h>

bool scene_raster_begin(cairo_t *cr, SceneRect clip, SceneRaster *r) {
    cairo_surface_t *t = cairo_get_target(cr);
    if (cairo_surface_get_type(t) != CAIRO_SURFACE_TYPE_IMAGE)
        return false;
    cairo_format_t fmt = cairo_image_surface_get_format(t);
    if (fmt != CAIRO_FORMAT_RGB24 && fmt != CAIRO_FORMAT_ARGB32)
        return false;
    cairo_matrix_t m;
    cairo_get_matrix(cr, &m);
    if (m.xx != 1 || m.yy != 1 || m.xy != 0 || m.yx != 0)
        return false;
    double dx, dy;
    cairo_surface_get_device_offset(t, &dx, &dy);
    r->ox = m.x0 + dx;
    r->oy = m.y0 + dy;
    int w = cairo_image_surface_get_width(t), h = cairo_image_surface_get_height(t);
    r->x0 = (int)fmax(0, floor(clip.x + r->ox));
    r->y0 = (int)fmax(0, floor(clip.y + r->oy));
    r->x1 = (int)fmin(w, ceil(clip.x + clip.w + r->ox));
    r->y1 = (int)fmin(h, ceil(clip.y + clip.h + r->oy));
    if (r->x1 <= r->x0 || r->y1 <= r->y0)
        return false;
    cairo_surface_flush(t);
    r->px = (uint32_t *)(void *)cairo_image_surface_get_data(t);
    r->stride = cairo_image_surface_get_stride(t) / 4;
    return r->px != NULL;
}

void scene_raster_end(cairo_t *cr, const SceneRaster *r) {
    cairo_surface_mark_dirty_rectangle(cairo_get_target(cr), r->x0, r->y0, r->x1 - r->x0,
                                       r->y1 - r->y0);
}
