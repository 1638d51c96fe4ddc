/* write_loop.c -- benchmark workload: N write(2) calls of 64 bytes to fd 1.
 * Usage: write_loop [N]   (default 1000000). Run with stdout on /dev/null. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    char line[64];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    for (long i = 0; i < n; i++)
        if (write(1, line, sizeof line) != (ssize_t)sizeof line)
            return 1;
    return 0;
}
