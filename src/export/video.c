// video.c — animated export: frames of the scene encoded as MP4 (H.264), WebM (VP9) or GIF,
// through the FFmpeg libraries.
//
// The caller draws each frame into a cairo image surface and hands its pixels over; this file
// converts, encodes and muxes them. Choices made for slides and the web:
//   MP4   H.264 High profile, yuv420p, BT.709: what PowerPoint, Keynote and every browser play.
//   WebM  VP9, yuv420p, constant quality.
//   GIF   one palette of 256 colours built from every frame of the clip (libavfilter's
//         palettegen) and applied with error diffusion (paletteuse), so gradients do not band.
//         Building the palette needs every frame before the first can be written, so a GIF
//         takes two passes over the same frames: export_video_passes says how many, and the
//         caller draws the clip again after export_video_next_pass (the scene is a pure
//         function of its arguments, so the second pass draws exactly the first one's frames).
//
// The file is written through our own I/O callbacks onto a temporary file created exclusively
// beside the destination (kv_temp_create: never following a link, removed on SIGINT/SIGTERM)
// and renamed over it when complete; a failed or abandoned export leaves nothing. The path never
// reaches FFmpeg's protocol layer, so a name like "concat:..." or "http://..." is just a file name.
//
// What this file does not do: draw (the caller renders with src/view), decide timing.
#include "export/export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

struct ExportVideo {
    ExportVideoKind kind;
    int w, h, fps;
    int pass, passes;
    int64_t frames; // frames written in this pass
    char *path;     // the destination
    char tmp[4096]; // the temporary file beside it ("" once renamed or removed)
    int fd;
    AVIOContext *io;
    AVFormatContext *fmt;
    AVStream *st;
    AVCodecContext *enc;
    AVPacket *pkt;
    AVFrame *in;  // the caller's pixels (borrowed data pointers)
    AVFrame *out; // what the encoder takes (yuv420p, or pal8 for GIF)
    struct SwsContext *sws;
    // GIF: pass 1 feeds palettegen, pass 2 feeds paletteuse with the palette it built
    AVFilterGraph *graph;
    AVFilterContext *src, *pal_src, *sink;
    AVFrame *palette;
};

static const struct {
    const char *ext;
    ExportVideoKind kind;
    const char *muxer;
    enum AVCodecID codec;
    const char *encoder;
} kinds[] = {
    {"mp4", EXPORT_VIDEO_MP4, "mp4", AV_CODEC_ID_H264, "libx264"},
    {"webm", EXPORT_VIDEO_WEBM, "webm", AV_CODEC_ID_VP9, "libvpx-vp9"},
    {"gif", EXPORT_VIDEO_GIF, "gif", AV_CODEC_ID_GIF, "gif"},
};

int export_video_kind_of(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcasecmp(dot + 1, kinds[i].ext) == 0)
            return (int)kinds[i].kind;
    return -1;
}

bool export_video_available(ExportVideoKind k) {
    return avcodec_find_encoder_by_name(kinds[k].encoder) != NULL &&
           av_guess_format(kinds[k].muxer, NULL, NULL) != NULL;
}

const char *export_video_ext(ExportVideoKind k) {
    return kinds[k].ext;
}

int export_video_passes(const ExportVideo *v) {
    return v->passes;
}

static KvStatus av_fail(ExportVideo *v, KvError *err, int code, const char *what) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(code, buf, sizeof buf);
    return kv_error(err, KV_ERR_RUNTIME, "%s: %s: %s", v->path, what, buf);
}

// ----------------------------------------------------------------------------------------------
// Our I/O: the muxer writes and seeks on the temporary file's descriptor

static int io_write(void *opaque, uint8_t *buf, int n) {
    ExportVideo *v = opaque;
    int done = 0;
    while (done < n) {
        ssize_t w = write(v->fd, buf + done, (size_t)(n - done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return AVERROR(errno);
        if (w == 0)
            return AVERROR(ENOSPC);
        done += (int)w;
    }
    return n;
}

static int64_t io_seek(void *opaque, int64_t offset, int whence) {
    ExportVideo *v = opaque;
    if (whence & AVSEEK_SIZE) {
        struct stat sb;
        return fstat(v->fd, &sb) == 0 ? (int64_t)sb.st_size : AVERROR(errno);
    }
    off_t r = lseek(v->fd, (off_t)offset, whence & ~AVSEEK_FORCE);
    return r < 0 ? AVERROR(errno) : (int64_t)r;
}

// ----------------------------------------------------------------------------------------------
// GIF palettes

static KvStatus graph_open(ExportVideo *v, const char *desc, bool with_palette, KvError *err) {
    avfilter_graph_free(&v->graph);
    v->graph = avfilter_graph_alloc();
    if (!v->graph)
        return kv_error(err, KV_ERR_RUNTIME, "%s: out of memory for the GIF filter", v->path);
    char args[256];
    snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=1/%d:pixel_aspect=1/1", v->w,
             v->h, (int)v->in->format, v->fps);
    int r = avfilter_graph_create_filter(&v->src, avfilter_get_by_name("buffer"), "in", args, NULL,
                                         v->graph);
    if (r >= 0 && with_palette) {
        snprintf(args, sizeof args, "video_size=16x16:pix_fmt=%d:time_base=1/%d:pixel_aspect=1/1",
                 (int)AV_PIX_FMT_RGB32, v->fps);
        r = avfilter_graph_create_filter(&v->pal_src, avfilter_get_by_name("buffer"), "pal", args,
                                         NULL, v->graph);
    }
    if (r >= 0)
        r = avfilter_graph_create_filter(&v->sink, avfilter_get_by_name("buffersink"), "out", NULL,
                                         NULL, v->graph);
    // the graph's open ends: [in] (and [pal]) are our sources' outputs, [out] the sink's input
    AVFilterInOut *outputs = avfilter_inout_alloc(), *inputs = avfilter_inout_alloc();
    AVFilterInOut *pal = with_palette ? avfilter_inout_alloc() : NULL;
    if (!outputs || !inputs || (with_palette && !pal))
        r = AVERROR(ENOMEM);
    if (r >= 0) {
        outputs->name = av_strdup("in");
        outputs->filter_ctx = v->src;
        outputs->next = pal;
        if (pal) {
            pal->name = av_strdup("pal");
            pal->filter_ctx = v->pal_src;
        }
        inputs->name = av_strdup("out");
        inputs->filter_ctx = v->sink;
        r = avfilter_graph_parse_ptr(v->graph, desc, &inputs, &outputs, NULL);
    } else {
        avfilter_inout_free(&pal);
    }
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    if (r >= 0)
        r = avfilter_graph_config(v->graph, NULL);
    return r < 0 ? av_fail(v, err, r, "GIF filter") : KV_OK;
}

// ----------------------------------------------------------------------------------------------
// Opening

static KvStatus encoder_open(ExportVideo *v, KvError *err) {
    const AVCodec *codec = avcodec_find_encoder_by_name(kinds[v->kind].encoder);
    if (!codec)
        return kv_error(err, KV_ERR_INPUT, "%s: this build of FFmpeg has no %s encoder", v->path,
                        kinds[v->kind].encoder);
    v->st = avformat_new_stream(v->fmt, NULL);
    v->enc = avcodec_alloc_context3(codec);
    if (!v->st || !v->enc)
        return kv_error(err, KV_ERR_RUNTIME, "%s: out of memory for the encoder", v->path);
    AVCodecContext *c = v->enc;
    c->width = v->w;
    c->height = v->h;
    c->time_base = (AVRational){1, v->fps};
    c->framerate = (AVRational){v->fps, 1};
    c->sample_aspect_ratio = (AVRational){1, 1};
    c->gop_size = 2 * v->fps;
    AVDictionary *opt = NULL;
    if (v->kind == EXPORT_VIDEO_GIF) {
        c->pix_fmt = AV_PIX_FMT_PAL8;
    } else {
        c->pix_fmt = AV_PIX_FMT_YUV420P;
        c->colorspace = AVCOL_SPC_BT709;
        c->color_primaries = AVCOL_PRI_BT709;
        c->color_trc = AVCOL_TRC_BT709;
        c->color_range = AVCOL_RANGE_MPEG;
        if (v->kind == EXPORT_VIDEO_MP4) {
            av_dict_set(&opt, "preset", "veryfast", 0); // flat pictures: fast costs little
            av_dict_set(&opt, "tune", "animation", 0);  // flat colours and sharp edges
            av_dict_set(&opt, "crf", "18", 0);
            av_dict_set(&opt, "profile", "high", 0);
        } else {
            av_dict_set(&opt, "crf", "30", 0);
            av_dict_set(&opt, "b", "0", 0);               // constant quality
            av_dict_set(&opt, "deadline", "realtime", 0); // the fastest setting: flat pictures
            av_dict_set(&opt, "cpu-used", "8", 0);        // compress well at any speed
            av_dict_set(&opt, "row-mt", "1", 0);
        }
    }
    if (v->fmt->oformat->flags & AVFMT_GLOBALHEADER)
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int r = avcodec_open2(c, codec, &opt);
    av_dict_free(&opt);
    if (r < 0)
        return av_fail(v, err, r, "cannot open the encoder");
    r = avcodec_parameters_from_context(v->st->codecpar, c);
    if (r < 0)
        return av_fail(v, err, r, "encoder parameters");
    v->st->time_base = c->time_base;
    v->st->avg_frame_rate = c->framerate;
    return KV_OK;
}

KvStatus export_video_check(const char *path, int w, int h, int fps, KvError *err) {
    int k = export_video_kind_of(path);
    if (k < 0)
        return kv_error(err, KV_ERR_INPUT, "%s: not a video name (.mp4, .webm or .gif)", path);
    if (fps < 1 || fps > 120)
        return kv_error(err, KV_ERR_INPUT, "%s: frame rate %d is out of range (1..120)", path, fps);
    if (w < 16 || h < 16 || w > 8192 || h > 8192)
        return kv_error(err, KV_ERR_INPUT, "%s: size %dx%d is out of range (16..8192)", path, w, h);
    if (k != EXPORT_VIDEO_GIF && (w % 2 || h % 2))
        return kv_error(err, KV_ERR_INPUT,
                        "%s: %s needs an even width and height (yuv420p), not %dx%d", path,
                        kinds[k].ext, w, h);
    if (!export_video_available((ExportVideoKind)k))
        return kv_error(err, KV_ERR_INPUT, "%s: this build's FFmpeg cannot write %s (no %s)", path,
                        kinds[k].ext, kinds[k].encoder);
    return export_check_path(path, err);
}

KvStatus export_video_open(ExportVideo **out, const char *path, int w, int h, int fps, bool alpha,
                           KvError *err) {
    *out = NULL;
    av_log_set_level(AV_LOG_QUIET); // errors reach the user as one line of ours, not FFmpeg's log
    KvStatus st = export_video_check(path, w, h, fps, err);
    if (st)
        return st;
    const int k = export_video_kind_of(path);
    ExportVideo *v = kv_calloc(1, sizeof *v);
    v->kind = (ExportVideoKind)k;
    v->w = w, v->h = h, v->fps = fps;
    v->passes = k == EXPORT_VIDEO_GIF ? 2 : 1;
    v->fd = -1;
    v->path = strdup(path);
    if (!v->path) {
        free(v);
        return kv_error(err, KV_ERR_RUNTIME, "out of memory");
    }
    v->fd = kv_temp_create(path, v->tmp, sizeof v->tmp, err); // removed on SIGINT/SIGTERM too
    if (v->fd < 0) {
        st = err ? err->code : KV_ERR_INPUT;
        goto fail;
    }
    v->in = av_frame_alloc();
    v->out = av_frame_alloc();
    v->pkt = av_packet_alloc();
    if (!v->in || !v->out || !v->pkt) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: out of memory", path);
        goto fail;
    }
    v->in->format = alpha ? AV_PIX_FMT_RGB32 : AV_PIX_FMT_0RGB32; // cairo's native-endian ARGB
    v->in->width = w, v->in->height = h;
    int r = avformat_alloc_output_context2(&v->fmt, NULL, kinds[k].muxer, NULL);
    if (r < 0) {
        st = av_fail(v, err, r, "no muxer");
        goto fail;
    }
    enum { IO_BUF = 1 << 16 };
    unsigned char *buf = av_malloc(IO_BUF);
    v->io = buf ? avio_alloc_context(buf, IO_BUF, 1, v, NULL, io_write, io_seek) : NULL;
    if (!v->io) {
        av_free(buf);
        st = kv_error(err, KV_ERR_RUNTIME, "%s: out of memory", path);
        goto fail;
    }
    v->fmt->pb = v->io;
    v->fmt->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT;
    if ((st = encoder_open(v, err)))
        goto fail;
    if (k == EXPORT_VIDEO_GIF) {
        if ((st = graph_open(v,
                             "[in]palettegen=max_colors=256:reserve_transparent=0:"
                             "stats_mode=full[out]",
                             false, err)))
            goto fail;
    } else {
        v->out->format = v->enc->pix_fmt;
        v->out->width = w, v->out->height = h;
        if ((r = av_frame_get_buffer(v->out, 0)) < 0) {
            st = av_fail(v, err, r, "frame buffer");
            goto fail;
        }
        v->sws = sws_getContext(w, h, v->in->format, w, h, AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL,
                                NULL, NULL);
        if (!v->sws) {
            st = kv_error(err, KV_ERR_RUNTIME, "%s: no colour conversion to yuv420p", path);
            goto fail;
        }
        const int *bt709 = sws_getCoefficients(SWS_CS_ITU709);
        sws_setColorspaceDetails(v->sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
    }
    if (k != EXPORT_VIDEO_GIF && (r = avformat_write_header(v->fmt, NULL)) < 0) {
        st = av_fail(v, err, r, "cannot write the header");
        goto fail;
    }
    *out = v;
    return KV_OK;
fail:
    export_video_abort(v);
    return st;
}

// ----------------------------------------------------------------------------------------------
// Frames

// Sends one frame (NULL: flush) to the encoder and writes every packet it gives back.
static KvStatus encode(ExportVideo *v, AVFrame *f, KvError *err) {
    int r = avcodec_send_frame(v->enc, f);
    if (r < 0)
        return av_fail(v, err, r, "encoding failed");
    for (;;) {
        r = avcodec_receive_packet(v->enc, v->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return KV_OK;
        if (r < 0)
            return av_fail(v, err, r, "encoding failed");
        av_packet_rescale_ts(v->pkt, v->enc->time_base, v->st->time_base);
        v->pkt->stream_index = v->st->index;
        r = av_interleaved_write_frame(v->fmt, v->pkt);
        if (r < 0)
            return av_fail(v, err, r, "write failed");
    }
}

// Frames the paletteuse filter has ready go to the GIF encoder.
static KvStatus drain_gif(ExportVideo *v, KvError *err) {
    for (;;) {
        AVFrame *f = av_frame_alloc();
        if (!f)
            return kv_error(err, KV_ERR_RUNTIME, "%s: out of memory", v->path);
        int r = av_buffersink_get_frame(v->sink, f);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) {
            av_frame_free(&f);
            return KV_OK;
        }
        KvStatus st = r < 0 ? av_fail(v, err, r, "GIF filter") : encode(v, f, err);
        av_frame_free(&f);
        if (st)
            return st;
    }
}

KvStatus export_video_frame(ExportVideo *v, const unsigned char *pixels, int stride, KvError *err) {
    v->in->data[0] = (uint8_t *)pixels;
    v->in->linesize[0] = stride;
    v->in->pts = v->frames++;
    if (v->kind != EXPORT_VIDEO_GIF) {
        int r = av_frame_make_writable(v->out);
        if (r < 0)
            return av_fail(v, err, r, "frame buffer");
        sws_scale(v->sws, (const uint8_t *const *)v->in->data, v->in->linesize, 0, v->h,
                  v->out->data, v->out->linesize);
        v->out->pts = v->in->pts;
        return encode(v, v->out, err);
    }
    // the filter keeps a reference: hand it a copy of the caller's pixels
    int r = av_buffersrc_write_frame(v->src, v->in);
    if (r < 0)
        return av_fail(v, err, r, "GIF filter");
    if (v->pass == 0) { // palettegen only answers at the end of the pass
        return KV_OK;
    }
    return drain_gif(v, err);
}

int64_t export_video_frames(const ExportVideo *v) {
    return v->frames;
}

KvStatus export_video_next_pass(ExportVideo *v, KvError *err) {
    if (v->kind != EXPORT_VIDEO_GIF || v->pass != 0)
        return kv_error(err, KV_ERR_RUNTIME, "%s: no further pass", v->path);
    // the palette of the whole clip
    int r = av_buffersrc_add_frame(v->src, NULL);
    v->palette = av_frame_alloc();
    if (r >= 0 && v->palette)
        r = av_buffersink_get_frame(v->sink, v->palette);
    if (r < 0 || !v->palette)
        return av_fail(v, err, r < 0 ? r : AVERROR(ENOMEM), "no palette");
    KvStatus st =
        graph_open(v, "[in][pal]paletteuse=dither=sierra2_4a:diff_mode=rectangle[out]", true, err);
    if (st)
        return st;
    v->palette->pts = 0;
    r = av_buffersrc_write_frame(v->pal_src, v->palette);
    if (r >= 0)
        r = av_buffersrc_add_frame(v->pal_src, NULL); // one palette for every frame
    if (r < 0)
        return av_fail(v, err, r, "GIF palette");
    if ((r = avformat_write_header(v->fmt, NULL)) < 0)
        return av_fail(v, err, r, "cannot write the header");
    v->pass = 1;
    v->frames = 0;
    return KV_OK;
}

// ----------------------------------------------------------------------------------------------
// Closing

KvStatus export_video_close(ExportVideo *v, KvError *err) {
    KvStatus st = KV_OK;
    if (v->pass + 1 != v->passes) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: closed before its last pass", v->path);
        goto done;
    }
    if (v->frames == 0) {
        st = kv_error(err, KV_ERR_INPUT, "%s: no frames to write", v->path);
        goto done;
    }
    if (v->kind == EXPORT_VIDEO_GIF) {
        int r = av_buffersrc_add_frame(v->src, NULL);
        if (r < 0) {
            st = av_fail(v, err, r, "GIF filter");
            goto done;
        }
        if ((st = drain_gif(v, err)))
            goto done;
    }
    if ((st = encode(v, NULL, err)))
        goto done;
    int r = av_write_trailer(v->fmt);
    if (r >= 0) {
        avio_flush(v->io);
        r = v->io->error;
    }
    if (r < 0) {
        st = av_fail(v, err, r, "write failed");
        goto done;
    }
    if (fsync(v->fd) != 0 && errno != EINVAL) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: write failed: %s", v->path, strerror(errno));
        goto done;
    }
    if (close(v->fd) != 0) {
        v->fd = -1;
        st = kv_error(err, KV_ERR_RUNTIME, "%s: write failed: %s", v->path, strerror(errno));
        goto done;
    }
    v->fd = -1;
    st = kv_temp_commit(v->tmp, v->path, err);
    v->tmp[0] = '\0'; // renamed, or removed by kv_temp_commit: nothing left to remove
done:
    export_video_abort(v);
    return st;
}

void export_video_abort(ExportVideo *v) {
    if (!v)
        return;
    avfilter_graph_free(&v->graph);
    av_frame_free(&v->palette);
    sws_freeContext(v->sws);
    avcodec_free_context(&v->enc);
    if (v->fmt) {
        v->fmt->pb = NULL;
        avformat_free_context(v->fmt);
    }
    if (v->io) {
        av_freep(&v->io->buffer);
        avio_context_free(&v->io);
    }
    av_packet_free(&v->pkt);
    av_frame_free(&v->in);
    av_frame_free(&v->out);
    if (v->fd >= 0)
        close(v->fd);
    if (v->tmp[0])
        kv_temp_forget(v->tmp, true);
    free(v->path);
    free(v);
}
