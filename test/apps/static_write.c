/* static_write.c -- a statically linked program: no LD_PRELOAD reaches it,
 * so its output is out of the preload's reach (the capture matrix says so). */
#include <unistd.h>

int main(void)
{
    return write(1, "static ok\n", 10) == 10 ? 0 : 1;
}
