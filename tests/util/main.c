// main.c — the test binary's entry: Criterion's own main, except that the runner process leaves
// with _exit. Criterion 2.4's parallel runner leaks a few of its own bookkeeping blocks (48 bytes
// each, stacks inside libcriterion only), which LeakSanitizer would report at exit and fail
// `make check SANITIZE=1`. The tests themselves run in worker processes that never come back
// here, so their leaks are still found and reported.
#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
    struct criterion_test_set *tests = criterion_initialize();
    int result = 0;
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    fflush(NULL);
    _exit(result);
}
