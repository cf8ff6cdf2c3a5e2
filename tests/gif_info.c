/* gif_info — reads a GIF with giflib (an independent decoder, not our
 * writer) and prints "FRAMES WIDTH HEIGHT DELAY_CS" of an animated GIF89a,
 * for the shell tests.  Exit 1 if giflib cannot read it, 77 (skip) when
 * the build has no giflib. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <stdio.h>

#ifdef HAVE_GIFLIB
#include <gif_lib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gif_info FILE.gif\n");
        return 2;
    }
    int e = 0;
    GifFileType *g = DGifOpenFileName(argv[1], &e);
    if (!g || DGifSlurp(g) != GIF_OK) {
        fprintf(stderr, "gif_info: %s: %s\n", argv[1], GifErrorString(g ? g->Error : e));
        if (g)
            DGifCloseFile(g, &e);
        return 1;
    }
    int delay = -1;
    GraphicsControlBlock gcb;
    if (g->ImageCount > 0 && DGifSavedExtensionToGCB(g, 0, &gcb) == GIF_OK)
        delay = gcb.DelayTime;
    printf("%d %d %d %d\n", g->ImageCount, g->SWidth, g->SHeight, delay);
    DGifCloseFile(g, &e);
    return 0;
}
#else
int main(void)
{
    fprintf(stderr, "gif_info: built without giflib\n");
    return 77;
}
#endif
