/* readfile.c — reading a whole file, gzip-compressed or not, through zlib (which passes
 * other files through unchanged): what the CSV and IDX readers start with. */
#include "data_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* The largest ratio deflate reaches: bounds what a gzip trailer may claim. */
#define MAX_DEFLATE_RATIO 1032

/* What the file will most likely hold once decompressed, as a first capacity (the read
 * grows past it if it is wrong): a gzip file's last 4 bytes are its size modulo 2^32 (exact
 * for one member below 4 GiB), any other regular file is its own size. 0 if unknown (a
 * directory, a pipe). */
static size_t size_hint(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    struct stat st;
    unsigned char head[2], tail[4];
    bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    size_t size = regular ? (size_t)st.st_size : 0;
    bool gz = size >= 18 && fread(head, 1, 2, f) == 2 && head[0] == 0x1f && head[1] == 0x8b &&
              fseek(f, -4, SEEK_END) == 0 && fread(tail, 1, 4, f) == 4;
    fclose(f);
    if (!gz)
        return size;
    size_t isize = tail[0] | (size_t)tail[1] << 8 | (size_t)tail[2] << 16 | (size_t)tail[3] << 24;
    return isize / MAX_DEFLATE_RATIO <= size ? isize : size;
}

/* Doubles the buffer's capacity, keeping its contents. */
static bool grow(unsigned char **buf, size_t len, size_t *cap)
{
    unsigned char *bigger = agi_alloc(2 * *cap);
    if (!bigger)
        return false;
    memcpy(bigger, *buf, len);
    agi_release(*buf);
    *buf = bigger;
    *cap *= 2;
    return true;
}

/* Frees the buffer of a failed read and returns `st`. */
static ag_status discard(unsigned char **buf, ag_status st)
{
    agi_release(*buf);
    *buf = NULL;
    return st;
}

/* Reads the open file to its end into *buf, NUL-terminated. */
static ag_status read_all(gzFile gz, const char *path, const char *who, unsigned char **buf,
                          size_t *len)
{
    size_t hint = size_hint(path), cap = hint > (1u << 16) ? hint + 2 : (size_t)1 << 16;
    *len = 0;
    if (!(*buf = agi_alloc(cap)))
        return AG_ERR_OOM;
    int got;
    do {
        if (cap - *len < 2 && !grow(buf, *len, &cap))
            return discard(buf, AG_ERR_OOM);
        size_t room = cap - *len - 1;
        got = gzread(gz, *buf + *len, (unsigned)(room < (1u << 30) ? room : (1u << 30)));
        *len += got > 0 ? (size_t)got : 0;
    } while (got > 0);
    int code = Z_OK;
    const char *why = gzerror(gz, &code);
    if (code == Z_OK) {
        (*buf)[*len] = 0;
        return AG_OK;
    }
    if (code == Z_ERRNO)
        why = strerror(errno);
    else if (code == Z_BUF_ERROR)
        why = "gzip data ends early (truncated file)";
    return discard(buf, ag_fail(AG_ERR_IO, "%s: %s: %s", who, path, why));
}

/* Opens the file with zlib (which passes files that are not gzip through unchanged) and
 * reads all of it. */
ag_status agi_read_file(const char *path, const char *who, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!path)
        return ag_fail(AG_ERR_ARG, "%s: path is NULL", who);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return ag_fail(AG_ERR_IO, "%s: %s: %s", who, path,
                       errno ? strerror(errno) : "cannot open");
    gzbuffer(gz, 1u << 17);
    ag_status st = read_all(gz, path, who, buf, len);
    gzclose_r(gz);
    return st;
}
