// main.c — the process entry: everything else is in cli.c and the commands.
#include "app/app.h"

int main(int argc, char **argv) {
    // every command's output to stdout is checked once more here: a full disk is exit 1
    return app_finish_stdout(cli_main(argc, argv));
}
