// main.c — an empty program that the build links against each layer alone (Makefile, target
// `layers`): every object of the layer is pulled in whole, so the link fails when any of them
// needs a library the layer must not use (the engine and sim: libc and libm only; view, export
// and lesson: no SDL). Nothing here runs.
int main(void) {
    return 0;
}
