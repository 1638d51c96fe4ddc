/* fatal_message.c -- one of glibc's own fatal messages: a double free makes
 * glibc write "free(): double free detected in tcache 2" to fd 2 with its
 * internal writev, which no hook sees, and abort. For the capture matrix;
 * not built with the sanitizers, which catch the double free themselves. */
#include <stdlib.h>

int main(void)
{
    char *volatile block = malloc(32);
    free(block);
    free(block);
    return 0;
}
