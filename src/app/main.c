// main.c — the process entry: everything else is in cli.c and the commands.
#include "app/app.h"

#include <malloc.h>

int main(int argc, char **argv) {
    // Buffers of 128 KiB and more straight from the kernel, always: glibc otherwise raises this
    // threshold each time such a buffer is freed, and later large buffers (a cache's history
    // growing, activations growing with the sequence) come from the heap, where freed blocks
    // stay resident and calloc must write zeros over every page (a fresh mapping costs only
    // the pages that are used). kvscope's peak memory on a long run depends on it.
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    // every command's output to stdout is checked once more here: a full disk is exit 1
    return app_finish_stdout(cli_main(argc, argv));
}
