// test_text.c — the helpers the whole project shares for files, text and numbers: reading a
// whole file (kv_read_file), the UTF-8 walker (kv_utf8_next, kv_utf8_count) and the number
// formatter (kv_format_number, kv_format_bytes), each on its edge cases.
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ----------------------------------------------------------------------------------------------
// kv_read_file

Test(text, read_file_whole_and_terminated) {
    char *dir = tu_tmpdir();
    char *path = tu_join(dir, "a.txt");
    const char body[] = "line one\nline two\n";
    cr_assert(tu_write_file(path, body, sizeof body - 1));
    unsigned char *data = NULL;
    size_t n = 0;
    KvError err = {0};
    cr_assert_eq(kv_read_file(path, 1 << 20, &data, &n, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(n, sizeof body - 1);
    cr_assert(memcmp(data, body, n) == 0);
    cr_assert_eq(data[n], '\0', "NUL after the bytes");
    free(data);
    // Exactly max bytes is allowed; an empty file is an empty buffer.
    cr_assert_eq(kv_read_file(path, sizeof body - 1, &data, &n, &err), KV_OK, "%s", err.msg);
    free(data);
    cr_assert(tu_write_file(path, "", 0));
    cr_assert_eq(kv_read_file(path, 16, &data, &n, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(n, 0);
    cr_assert_eq(data[0], '\0');
    free(data);
    free(path);
    tu_rmtree(dir);
}

Test(text, read_file_missing) {
    unsigned char *data = (unsigned char *)"x";
    size_t n = 7;
    KvError err = {0};
    cr_assert_eq(kv_read_file("/nonexistent/kvscope/file", 100, &data, &n, &err), KV_ERR_INPUT);
    cr_assert_null(data);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(err.msg, "/nonexistent/kvscope/file: cannot open: No such file or directory");
}

Test(text, read_file_too_large) {
    char *dir = tu_tmpdir();
    char *path = tu_join(dir, "big.bin");
    char buf[5000];
    memset(buf, 'x', sizeof buf);
    cr_assert(tu_write_file(path, buf, sizeof buf));
    unsigned char *data = NULL;
    size_t n = 0;
    KvError err = {0};
    cr_assert_eq(kv_read_file(path, sizeof buf - 1, &data, &n, &err), KV_ERR_INPUT);
    cr_assert_null(data);
    cr_assert(strstr(err.msg, "larger than 4999 bytes"), "%s", err.msg);
    cr_assert(strncmp(err.msg, path, strlen(path)) == 0, "names the file: %s", err.msg);
    free(path);
    tu_rmtree(dir);
}

Test(text, read_file_too_large_although_it_says_small) {
    // /proc files report a size of 0: the limit holds on what is read, not what stat says.
    unsigned char *data = NULL;
    size_t n = 0;
    KvError err = {0};
    cr_assert_eq(kv_read_file("/proc/self/maps", 8, &data, &n, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "larger than 8 bytes"), "%s", err.msg);
    cr_assert_eq(kv_read_file("/proc/self/maps", SIZE_MAX, &data, &n, &err), KV_OK, "%s", err.msg);
    cr_assert_gt(n, 8);
    cr_assert_eq(strlen((char *)data), n);
    free(data);
}

Test(text, read_file_not_regular, .timeout = 10) {
    char *dir = tu_tmpdir();
    unsigned char *data = NULL;
    size_t n = 0;
    KvError err = {0};
    cr_assert_eq(kv_read_file(dir, 100, &data, &n, &err), KV_ERR_INPUT, "a directory");
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
    // A FIFO with no writer: refused at once, not waited on (the timeout catches a hang).
    char *fifo = tu_join(dir, "pipe");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(kv_read_file(fifo, 100, &data, &n, &err), KV_ERR_INPUT, "a FIFO");
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
    cr_assert_eq(kv_read_file("/dev/null", 100, &data, &n, &err), KV_ERR_INPUT, "a device");
    cr_assert_null(data);
    free(fifo);
    tu_rmtree(dir);
}

// ----------------------------------------------------------------------------------------------
// UTF-8

Test(text, utf8_valid_sequences) {
    uint32_t cp = 0;
    cr_assert_eq(kv_utf8_next("A", 1, &cp), 1);
    cr_assert_eq(cp, 'A');
    cr_assert_eq(kv_utf8_next("\xc3\xa9", 2, &cp), 2); // é
    cr_assert_eq(cp, 0xE9);
    cr_assert_eq(kv_utf8_next("\xe2\x82\xac", 3, &cp), 3); // €
    cr_assert_eq(cp, 0x20AC);
    cr_assert_eq(kv_utf8_next("\xf0\x9f\x98\x80", 4, &cp), 4); // U+1F600
    cr_assert_eq(cp, 0x1F600);
    cr_assert_eq(kv_utf8_next("\xf4\x8f\xbf\xbf", 4, &cp), 4); // U+10FFFF, the last one
    cr_assert_eq(cp, 0x10FFFF);
    cr_assert_eq(kv_utf8_next("\xc3\xa9", 2, NULL), 2, "cp may be NULL");
    cr_assert_eq(kv_utf8_count("h\xc3\xa9llo \xe2\x82\xac", 10), 7);
    cr_assert_eq(kv_utf8_count("", 0), 0);
}

Test(text, utf8_invalid_sequences) {
    static const struct {
        const char *bytes;
        size_t n;
        const char *why;
    } bad[] = {
        {"\x80", 1, "a lone continuation byte"},
        {"\xbf", 1, "another continuation byte"},
        {"\xc3", 1, "a two-byte sequence cut short"},
        {"\xe2\x82", 2, "a three-byte sequence cut short"},
        {"\xe2\x82\xac", 2, "cut short by n, not by the bytes"},
        {"\xc3\x28", 2, "a second byte that is not a continuation"},
        {"\xc0\xaf", 2, "overlong '/'"},
        {"\xc1\xbf", 2, "overlong two-byte"},
        {"\xe0\x80\xaf", 3, "overlong three-byte"},
        {"\xf0\x80\x80\xaf", 4, "overlong four-byte"},
        {"\xed\xa0\x80", 3, "a UTF-16 surrogate (U+D800)"},
        {"\xed\xbf\xbf", 3, "a UTF-16 surrogate (U+DFFF)"},
        {"\xf4\x90\x80\x80", 4, "past U+10FFFF"},
        {"\xf8\x88\x80\x80\x80", 5, "a five-byte form"},
        {"\xff", 1, "0xFF"},
        {"", 0, "nothing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t cp = 12345;
        cr_assert_eq(kv_utf8_next(bad[i].bytes, bad[i].n, &cp), 0, "%s", bad[i].why);
        if (bad[i].n > 0)
            cr_assert_eq(kv_utf8_count(bad[i].bytes, bad[i].n), -1, "%s", bad[i].why);
    }
    cr_assert_eq(kv_utf8_count("ok\x80", 3), -1, "an invalid byte after valid text");
    // The walker stops at the first bad byte: a valid prefix walks.
    cr_assert_eq(kv_utf8_next("a\x80", 2, NULL), 1);
}

// ----------------------------------------------------------------------------------------------
// Numbers

static const char *fmt(double v, KvNumberStyle st, const char *unit) {
    static char buf[64];
    kv_format_number(buf, sizeof buf, v, st, unit);
    return buf;
}

Test(text, number_formatter_styles) {
    // The picture's counters keep their decimals, so the width does not jitter as they change.
    cr_assert_str_eq(fmt(0, KV_NUM_SI, "FLOP"), "0 FLOP");
    cr_assert_str_eq(fmt(512, KV_NUM_SI, "FLOP"), "512 FLOP");
    cr_assert_str_eq(fmt(2700000, KV_NUM_SI, "FLOP"), "2.70 MFLOP");
    cr_assert_str_eq(fmt(87.6e6, KV_NUM_SI, "FLOP"), "87.6 MFLOP");
    cr_assert_str_eq(fmt(1.3e9, KV_NUM_SI, ""), "1.30 G");
    cr_assert_str_eq(fmt(-653e6, KV_NUM_SI, "FLOP"), "-653 MFLOP");
    cr_assert_str_eq(fmt(0.5, KV_NUM_SI, "s"), "0.50 s");
    // Captions and the terminal drop trailing zeros.
    cr_assert_str_eq(fmt(2700000, KV_NUM_SI_SHORT, "FLOP"), "2.7 MFLOP");
    cr_assert_str_eq(fmt(3e9, KV_NUM_SI_SHORT, "FLOP"), "3 GFLOP");
    cr_assert_str_eq(fmt(6300000, KV_NUM_COUNT, ""), "6.3M");
    cr_assert_str_eq(fmt(15200, KV_NUM_COUNT, ""), "15.2k");
    cr_assert_str_eq(fmt(7e9, KV_NUM_COUNT, ""), "7B");
    cr_assert_str_eq(fmt(7e12, KV_NUM_COUNT, ""), "7000B", "no prefix past the last");
    cr_assert_str_eq(fmt(12.5, KV_NUM_PLAIN, ""), "12.5");
    cr_assert_str_eq(fmt(1234.6, KV_NUM_PLAIN, "x"), "1235x", "plain never scales");
    cr_assert_str_eq(fmt(0.004, KV_NUM_PLAIN, ""), "0");
}

Test(text, number_formatter_edges) {
    // Rounding up to the next prefix: never "1000 k" or "1024 KiB".
    cr_assert_str_eq(fmt(999.4, KV_NUM_SI, ""), "999 ");
    cr_assert_str_eq(fmt(999.7, KV_NUM_SI_SHORT, "FLOP"), "1 kFLOP");
    cr_assert_str_eq(fmt(999.7e3, KV_NUM_SI, "FLOP"), "1.00 MFLOP");
    cr_assert_str_eq(fmt(9.996, KV_NUM_SI, ""), "10.0 ");
    cr_assert_str_eq(fmt(99.96, KV_NUM_SI, ""), "100 ");
    cr_assert_str_eq(fmt(1e18, KV_NUM_SI, "FLOP"), "1.00 EFLOP");
    cr_assert_str_eq(fmt(1e24, KV_NUM_SI, "FLOP"), "1000000 EFLOP", "past the last prefix");
    // Bytes in binary units.
    char b[32];
    kv_format_bytes(b, sizeof b, 0);
    cr_assert_str_eq(b, "0 B");
    kv_format_bytes(b, sizeof b, 1023);
    cr_assert_str_eq(b, "1023 B");
    kv_format_bytes(b, sizeof b, 1024);
    cr_assert_str_eq(b, "1 KiB");
    kv_format_bytes(b, sizeof b, 6144);
    cr_assert_str_eq(b, "6 KiB");
    kv_format_bytes(b, sizeof b, 1536 * 1024);
    cr_assert_str_eq(b, "1.5 MiB");
    kv_format_bytes(b, sizeof b, 1024 * 1024 - 1);
    cr_assert_str_eq(b, "1 MiB", "1023.999 KiB rounds to the next unit");
    kv_format_bytes(b, sizeof b, UINT64_MAX);
    cr_assert_str_eq(b, "16384 PiB");
    // Not finite, and buffers too small: still a string.
    cr_assert_str_eq(fmt(NAN, KV_NUM_SI, "FLOP"), "? FLOP");
    char tiny[4];
    kv_format_number(tiny, sizeof tiny, 123456789, KV_NUM_SI, "FLOP");
    cr_assert_eq(strlen(tiny), 3);
    kv_format_number(tiny, 0, 1, KV_NUM_SI, "FLOP"); // writes nothing, does not crash
}
