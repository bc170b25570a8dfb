/* big_writer FRAMING PATH TAG COUNT SIZE: writes COUNT messages of SIZE bytes,
 * each "TAG:SEQ:" followed by one filler byte repeated, the byte being
 * (sum of TAG's bytes + 7 * SEQ) % 256, so a reader can rebuild and compare
 * it. FRAMING messages: one write(2) per message; lp32: the 4-byte
 * little-endian length and the body in one write(2).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: big_writer messages|lp32 PATH TAG COUNT SIZE\n");
        return 2;
    }
    int lp32 = strcmp(argv[1], "lp32") == 0;
    const char *tag = argv[3];
    int count = atoi(argv[4]);
    size_t size = (size_t)atol(argv[5]);
    unsigned tagsum = 0;
    for (const char *p = tag; *p; p++)
        tagsum += (unsigned char)*p;

    char *buf = malloc(size + 4);
    if (!buf)
        return 1;
    int fd = open(argv[2], O_WRONLY);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    for (int seq = 0; seq < count; seq++) {
        char *body = buf + (lp32 ? 4 : 0);
        int head = snprintf(body, size, "%s:%d:", tag, seq);
        memset(body + head, (int)((tagsum + 7u * (unsigned)seq) % 256u), size - (size_t)head);
        if (lp32) {
            uint32_t n = (uint32_t)size;
            for (int i = 0; i < 4; i++)
                buf[i] = (char)((n >> (8 * i)) & 0xff);
        }
        size_t total = size + (lp32 ? 4 : 0);
        ssize_t w = write(fd, buf, total);
        if (w < 0 || (size_t)w != total) {
            perror("write");
            return 1;
        }
    }
    free(buf);
    return close(fd) == 0 ? 0 : 1;
}
