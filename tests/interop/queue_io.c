/* queue_io: fixed-size line traffic on a lines channel (queue or topic).
 *
 *   queue_io write PATH TAG COUNT   COUNT lines "TAG:NNNNNN....\n", one write(2) each
 *   queue_io read PATH              print lines until the END line
 *
 * Every line is LINE_LEN bytes, and a reader asks for exactly LINE_LEN, so
 * each read(2) must return one whole line: competing readers can then each
 * stop at their own END line without taking a second one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_LEN 16

static void make_line(char *out, const char *text)
{
    size_t n = strlen(text);
    memset(out, '.', LINE_LEN - 1);
    memcpy(out, text, n < LINE_LEN - 1 ? n : LINE_LEN - 1);
    out[LINE_LEN - 1] = '\n';
}

static int do_write(const char *path, const char *tag, int count)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    for (int i = 0; i < count; i++) {
        char text[LINE_LEN + 32], line[LINE_LEN];
        snprintf(text, sizeof text, "%s:%06d", tag, i);
        make_line(line, text);
        if (write(fd, line, LINE_LEN) != LINE_LEN) {
            perror("write");
            return 1;
        }
    }
    return close(fd) == 0 ? 0 : 1;
}

static int do_read(const char *path)
{
    char end[LINE_LEN], line[LINE_LEN];
    make_line(end, "END");
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    for (;;) {
        ssize_t n = read(fd, line, LINE_LEN);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != LINE_LEN) {
            fprintf(stderr, "read returned %zd, want one %d-byte line\n", n, LINE_LEN);
            return 1;
        }
        if (memcmp(line, end, LINE_LEN) == 0)
            break;
        fwrite(line, 1, LINE_LEN, stdout);
    }
    close(fd);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "write") == 0)
        return do_write(argv[2], argv[3], atoi(argv[4]));
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return do_read(argv[2]);
    fprintf(stderr, "usage: queue_io write PATH TAG COUNT | read PATH\n");
    return 2;
}
