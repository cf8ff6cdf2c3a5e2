/* convert_vqvae.c — `cogvideo convert-vqvae ICE_IMAGE.pt OUT.gguf [options]`. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vqvae.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: cogvideo convert-vqvae ICE_IMAGE.pt OUT.gguf [--grid HxW] [--norm-groups N]\n"
                 "                              [--decoder PREFIX] [--pixel normalize|clamp]\n"
                 "  --grid HxW        token grid of one frame (default 20x20, the release's)\n"
                 "  --norm-groups N   GroupNorm groups (default 32, icetk's Normalize)\n"
                 "  --decoder PREFIX  the decoder to run (default decs.1., the 8x decoder the\n"
                 "                    pipeline uses)\n"
                 "  --pixel MODE      how decode and generate show frames by default: normalize\n"
                 "                    (per-frame min-max, the pipeline's save_image; default) or\n"
                 "                    clamp (for decoders trained to exact colours)\n"
                 "Reads icetk's ice_image.pt (a state dict, bare or under 'module') without Python.\n"
                 "The architecture (widths, levels, blocks, z channels, codebook size) is read off\n"
                 "the decoder's tensors and stored as metadata with the grid, the GroupNorm\n"
                 "settings and icetk's de-normalisation mean/std.  The codebook, the decoder and\n"
                 "every other tensor (encoder, other decoders) are kept in their dtype; the\n"
                 "quantizer's training statistics (cluster_size, embed_avg) are dropped.\n");
}

static int parse_grid(const char *s, int *h, int *w)
{
    char *e1, *e2 = NULL;
    const long a = strtol(s, &e1, 10);
    const long b = *e1 == 'x' ? strtol(e1 + 1, &e2, 10) : 0;
    if (e1 == s || *e1 != 'x' || e2 == e1 + 1 || *e2 || a < 1 || b < 1 || a > 4096 || b > 4096)
        return cv_cli_fail(CV_EXIT_USAGE, "--grid: '%s' is not HxW with 1 <= H, W <= 4096 (e.g. 20x20)", s);
    *h = (int)a, *w = (int)b;
    return CV_EXIT_OK;
}

int cv_cmd_convert_vqvae(int argc, char **argv)
{
    cv_vqvae_convert_opts o;
    cv_vqvae_convert_opts_default(&o);
    const char *paths[2] = {NULL, NULL};
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = CV_EXIT_OK;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return usage(stdout), CV_EXIT_OK;
        if (!strcmp(a, "--grid") || !strcmp(a, "--norm-groups") || !strcmp(a, "--decoder") || !strcmp(a, "--pixel")) {
            if (i + 1 >= argc)
                return cv_cli_fail(CV_EXIT_USAGE, "convert-vqvae: %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--grid"))
                rc = parse_grid(v, &o.grid_h, &o.grid_w);
            else if (!strcmp(a, "--norm-groups"))
                rc = cv_cli_int(a, v, 1, CV_VQ_MAX_GROUPS, &o.groups);
            else if (!strcmp(a, "--pixel") && (!strcmp(v, "normalize") || !strcmp(v, "clamp")))
                o.pixel_clamp = v[0] == 'c';
            else if (!strcmp(a, "--pixel"))
                return cv_cli_fail(CV_EXIT_USAGE, "--pixel: '%s' is not normalize or clamp", v);
            else if (strlen(v) > 32)
                return cv_cli_fail(CV_EXIT_USAGE, "--decoder: '%s' is longer than 32 bytes", v);
            else
                o.decoder = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cv_cli_fail(CV_EXIT_USAGE, "convert-vqvae: unknown option '%s' (see cogvideo convert-vqvae --help)", a);
        } else if (np < 2) {
            paths[np++] = a;
        } else {
            return cv_cli_fail(CV_EXIT_USAGE, "convert-vqvae: unexpected argument '%s'", a);
        }
        if (rc)
            return rc;
    }
    if (np != 2)
        return cv_cli_fail(CV_EXIT_USAGE, "convert-vqvae: expected ICE_IMAGE.pt and OUT.gguf (see cogvideo convert-vqvae --help)");
    cv_error err;
    cv_status s = cv_vqvae_convert(paths[0], paths[1], &o, &err);
    return s ? cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg) : CV_EXIT_OK;
}
