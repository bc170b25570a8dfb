/* poll_pipe METHOD PATH SYNCDIR: readiness of a pipe channel through poll(2),
 * epoll(7) or select(2) (METHOD poll|epoll|select), step by step with the
 * shell driving the writer. It creates SYNCDIR/opened, SYNCDIR/drained and
 * SYNCDIR/eof when it reaches each step, and the shell then acts:
 *
 *   opened:  nothing is ready; the shell opens a writer and writes "hello\n"
 *            (keeping it open)   -> POLLIN alone, read "hello\n", then EAGAIN
 *   drained: nothing is ready; the shell closes the writer
 *            -> POLLHUP alone, read() == 0, then nothing is ready
 *   eof:     the shell writes a whole session "second\n"
 *            -> POLLIN, read "second\n", POLLHUP alone, read() == 0
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#define IN 1
#define HUP 2
#define OTHER 4
#define READABLE 8 /* select cannot tell data from hang-up */

static const char *method;
static int fd, epfd = -1;

static int wait_ready(int timeout_ms)
{
    if (strcmp(method, "poll") == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, timeout_ms);
        if (n < 0) {
            perror("poll");
            exit(1);
        }
        if (n == 0)
            return 0;
        return (p.revents & POLLIN ? IN : 0) | (p.revents & POLLHUP ? HUP : 0) |
               (p.revents & ~(POLLIN | POLLHUP) ? OTHER : 0);
    }
    if (strcmp(method, "epoll") == 0) {
        struct epoll_event ev;
        int n = epoll_wait(epfd, &ev, 1, timeout_ms);
        if (n < 0) {
            perror("epoll_wait");
            exit(1);
        }
        if (n == 0)
            return 0;
        return (ev.events & EPOLLIN ? IN : 0) | (ev.events & EPOLLHUP ? HUP : 0) |
               (ev.events & ~(unsigned)(EPOLLIN | EPOLLHUP) ? OTHER : 0);
    }
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int n = select(fd + 1, &rd, NULL, NULL, &tv);
    if (n < 0) {
        perror("select");
        exit(1);
    }
    return n > 0 && FD_ISSET(fd, &rd) ? READABLE : 0;
}

static void expect_ready(int timeout_ms, int want, const char *step)
{
    int got = wait_ready(timeout_ms);
    if (strcmp(method, "select") == 0 && want)
        want = READABLE;
    if (got != want) {
        fprintf(stderr, "%s: %s reported %#x, want %#x\n", step, method, got, want);
        exit(1);
    }
}

static void expect_read(const char *want, const char *step)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    size_t len = strlen(want);
    if (n < 0 || (size_t)n != len || memcmp(buf, want, len) != 0) {
        fprintf(stderr, "%s: read returned %zd (errno %d), want %zu bytes\n", step, n,
                n < 0 ? errno : 0, len);
        exit(1);
    }
}

static void expect_eagain(const char *step)
{
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n != -1 || errno != EAGAIN) {
        fprintf(stderr, "%s: read returned %zd, want EAGAIN\n", step, n);
        exit(1);
    }
}

static void signal_step(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int f = open(path, O_WRONLY | O_CREAT, 0644);
    if (f < 0) {
        perror(path);
        exit(1);
    }
    close(f);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: poll_pipe poll|epoll|select PATH SYNCDIR\n");
        return 2;
    }
    method = argv[1];
    fd = open(argv[2], O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    if (strcmp(method, "epoll") == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epfd = epoll_create1(0);
        if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            perror("epoll");
            return 1;
        }
    }

    expect_ready(0, 0, "empty");
    expect_eagain("empty");
    signal_step(argv[3], "opened");

    expect_ready(10000, IN, "data");
    expect_read("hello\n", "data");
    expect_eagain("drained");
    expect_ready(0, 0, "drained, writer open");
    signal_step(argv[3], "drained");

    expect_ready(10000, HUP, "writer closed");
    expect_read("", "writer closed");
    expect_ready(100, 0, "after the end mark");
    expect_eagain("after the end mark");
    signal_step(argv[3], "eof");

    expect_ready(10000, IN, "second session");
    expect_read("second\n", "second session");
    expect_ready(10000, HUP, "second end");
    expect_read("", "second end");
    expect_ready(0, 0, "done");
    return close(fd) == 0 ? 0 : 1;
}
