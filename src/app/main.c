// main.c — the process entry: everything else is in cli.c and the commands.
#include "app/app.h"

int main(int argc, char **argv) {
    return cli_main(argc, argv);
}
