// Deterministic 1 KiB workloads for instruction counting.
//   msgclient seq PATH N      write 1 KiB then read it back (64 KiB buffer), N times: no parking
//   msgclient park PATH N     a reader thread parked in read(64 KiB); main writes 1 KiB once the
//                             reader has asked (waits via a pipe handshake + small spin), N times
//   msgclient stream PATH N   writer thread N x 1 KiB, reader 64 KiB buffer (the bench's msg1k)
#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>
#include <atomic>
static void die(const char *m) { perror(m); exit(1); }
int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage\n"); return 2; }
    std::string mode = argv[1];
    const char *path = argv[2];
    long n = atol(argv[3]);
    int w = open(path, O_WRONLY | O_CLOEXEC);
    if (w < 0) die("open w");
    int r = open(path, O_RDONLY | O_CLOEXEC);
    if (r < 0) die("open r");
    std::vector<char> msg(1024, 'x');
    msg[1023] = '\n';
    std::vector<char> buf(65536);
    if (mode == "seq") {
        for (long i = 0; i < n; ++i) {
            if (write(w, msg.data(), 1024) != 1024) die("write");
            ssize_t got = read(r, buf.data(), buf.size());
            if (got != 1024) die("read");
        }
    } else if (mode == "stream") {
        std::thread t([&] {
            for (long i = 0; i < n; ++i)
                if (write(w, msg.data(), 1024) != 1024) die("write");
        });
        long total = 0, reads = 0;
        while (total < n * 1024) {
            ssize_t got = read(r, buf.data(), buf.size());
            if (got <= 0) die("read");
            total += got;
            ++reads;
        }
        t.join();
        fprintf(stderr, "reads %ld (%.2f msg/read)\n", reads, double(n) / reads);
    } else if (mode == "park") {
        std::atomic<long> asked{0};
        std::thread t([&] {
            for (long i = 0; i < n; ++i) {
                asked.store(i + 1);
                ssize_t got = read(r, buf.data(), buf.size());
                if (got != 1024) die("read");
            }
        });
        for (long i = 0; i < n; ++i) {
            while (asked.load() < i + 1) {}
            usleep(200);  // let the read reach the daemon and park (instruction counting only)
            if (write(w, msg.data(), 1024) != 1024) die("write");
        }
        t.join();
    }
    return 0;
}
