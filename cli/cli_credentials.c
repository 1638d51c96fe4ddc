/* cli_credentials.c -- choosing the API token the CLI sends.
 *
 * In order: --token, then $LOGTAP_TOKEN, then the line for the server's URL
 * in the credentials file: --credentials FILE, else $LOGTAP_CREDENTIALS,
 * else ${XDG_CONFIG_HOME:-$HOME/.config}/logtap/credentials. The collector
 * writes that file (one `URL TOKEN` line per address it serves) when it
 * starts, so a local user has nothing to configure; a collector started
 * with --credentials FILE is reached with the same FILE.
 *
 * Why it looks the way it does:
 * - The file holds secrets, so it is used only when it is a regular file
 *   that belongs to the user and that nobody else may read or write (as ssh
 *   treats private keys): a token others could read is already leaked, and
 *   one others could write could make the CLI act as someone else. A file
 *   that fails the check stops the command with exit 4 and the chmod that
 *   fixes it, rather than falling back silently.
 * - URLs are compared as text after stripping trailing '/': the collector
 *   writes the URL it serves, and the CLI's --server is normalised the same
 *   way (cli_http.c), so "http://127.0.0.1:8765/" matches. Of several lines
 *   for one URL the last wins, as a later start appends the newer token.
 * - A line that is not `URL TOKEN` is reported and skipped, never guessed
 *   at; blank lines and '#' comments are allowed.
 * - A file named explicitly (flag or environment) must exist: a typo there
 * would otherwise turn into a puzzling 401. The default file may be
 * absent (a user with no local collector passes tokens otherwise).
 * - Tokens go into an HTTP header, so anything but printable ASCII without
 *   spaces is refused before it could split or corrupt the header.
 */
#include "cli_credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_text.h"

#define CREDENTIALS_MAX_BYTES (1u << 20)

bool cli_token_ok(const char *token)
{
    size_t len = strlen(token);
    if (len == 0 || len > CLI_TOKEN_MAX)
        return false;
    for (const unsigned char *s = (const unsigned char *)token; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    return true;
}

void cli_token_release(struct cli_token *t)
{
    free(t->value);
    free(t->origin);
    free(t->credentials_path);
    t->value = t->origin = t->credentials_path = NULL;
}

/* $XDG_CONFIG_HOME/logtap/credentials, else $HOME/.config/logtap/
 * credentials, each only when absolute: exactly the collector's rule
 * (bootstrap.c), so both name the same file. Caller frees; NULL if none. */
static char *credentials_path_new(void)
{
    lt_buf path = {0};
    const char *config = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (config && config[0] == '/')
        lt_buf_appendf(&path, "%s/logtap/credentials", config);
    else if (home && home[0] == '/')
        lt_buf_appendf(&path, "%s/.config/logtap/credentials", home);
    else
        return NULL;
    return lt_buf_detach(&path);
}

static int refuse_file(const char *path, const char *why)
{
    fprintf(stderr,
            "logtap: not using the credentials file %s: %s; make it yours "
            "and private ('chmod 600 %s'), or pass --token or set "
            "LOGTAP_TOKEN\n",
            path, why, path);
    return LT_EXIT_DENIED;
}

/* Reads the whole file into *text. A missing file is not an error
 * (*exists = false). Returns an exit code. */
static int read_credentials(const char *path, lt_buf *text, bool *exists)
{
    *exists = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return LT_EXIT_OK;
        fprintf(stderr, "logtap: cannot open the credentials file %s: %s\n", path, strerror(errno));
        return LT_EXIT_FAILED;
    }
    *exists = true;
    struct stat st;
    int code = LT_EXIT_OK;
    char why[96];
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "logtap: cannot stat the credentials file %s: %s\n", path, strerror(errno));
        code = LT_EXIT_FAILED;
    } else if (!S_ISREG(st.st_mode)) {
        code = refuse_file(path, "it is not a regular file");
    } else if (st.st_uid != geteuid()) {
        snprintf(why, sizeof why, "it belongs to uid %u, not to you", (unsigned)st.st_uid);
        code = refuse_file(path, why);
    } else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(why, sizeof why, "its mode %04o lets others read or change it",
                 (unsigned)(st.st_mode & 07777));
        code = refuse_file(path, why);
    } else if ((unsigned long long)st.st_size > CREDENTIALS_MAX_BYTES) {
        fprintf(stderr, "logtap: the credentials file %s is larger than %u KiB\n", path,
                CREDENTIALS_MAX_BYTES >> 10);
        code = LT_EXIT_FAILED;
    }
    char chunk[4096];
    while (code == LT_EXIT_OK) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "logtap: cannot read the credentials file %s: %s\n", path, strerror(errno));
            code = LT_EXIT_FAILED;
        } else if (text->len + (size_t)n > CREDENTIALS_MAX_BYTES) {
            fprintf(stderr, "logtap: the credentials file %s is larger than %u KiB\n", path,
                    CREDENTIALS_MAX_BYTES >> 10);
            code = LT_EXIT_FAILED;
        } else {
            lt_buf_append(text, chunk, (size_t)n);
        }
    }
    close(fd);
    return code;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* [s, end) without leading and trailing blanks (and a CR from CR LF). */
static void trim(const char **s, const char **end)
{
    while (*s < *end && is_blank(**s))
        (*s)++;
    while (*end > *s && (is_blank((*end)[-1]) || (*end)[-1] == '\r'))
        (*end)--;
}

/* One non-comment line: URL, blanks, TOKEN. Returns false if malformed. */
static bool split_line(const char *s, const char *end, const char **url, size_t *url_len, const char **token,
                       size_t *token_len)
{
    if (memchr(s, '\0', (size_t)(end - s)))
        return false;
    const char *p = s;
    while (p < end && !is_blank(*p))
        p++;
    *url = s;
    *url_len = (size_t)(p - s);
    while (p < end && is_blank(*p))
        p++;
    *token = p;
    while (p < end && !is_blank(*p))
        p++;
    *token_len = (size_t)(p - *token);
    return *url_len > 0 && *token_len > 0 && p == end;
}

char *cli_token_for_server_new(const char *path, const lt_buf *text, const char *server_url)
{
    size_t server_len = strlen(server_url);
    char *found = NULL;
    const char *s = text->data ? text->data : "";
    const char *limit = s + text->len;
    for (unsigned line_no = 1; s < limit; line_no++) {
        const char *newline = memchr(s, '\n', (size_t)(limit - s));
        const char *end = newline ? newline : limit;
        const char *next = newline ? newline + 1 : limit;
        trim(&s, &end);
        const char *url, *token;
        size_t url_len, token_len;
        if (s == end || *s == '#') {
            /* blank line or comment */
        } else if (!split_line(s, end, &url, &url_len, &token, &token_len)) {
            fprintf(stderr, "logtap: %s:%u: not a 'URL TOKEN' line; ignored\n", path, line_no);
        } else {
            while (url_len > 0 && url[url_len - 1] == '/')
                url_len--;
            if (url_len == server_len && memcmp(url, server_url, url_len) == 0) {
                free(found);
                found = strndup(token, token_len);
                if (!found)
                    die_out_of_memory();
            }
        }
        s = next;
    }
    return found;
}

static char *checked_strdup(const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        die_out_of_memory();
    return copy;
}

int cli_token_find(const char *flag, const char *credentials_flag, const char *server_url,
                   struct cli_token *out)
{
    memset(out, 0, sizeof *out);
    const char *named_by = NULL;
    const char *credentials_env = getenv("LOGTAP_CREDENTIALS");
    if (credentials_flag) {
        out->credentials_path = checked_strdup(credentials_flag);
        named_by = "--credentials";
    } else if (credentials_env && *credentials_env) {
        out->credentials_path = checked_strdup(credentials_env);
        named_by = "LOGTAP_CREDENTIALS";
    } else {
        out->credentials_path = credentials_path_new();
    }
    if (flag) {
        /* Checked as a usage error where the flag was parsed. */
        out->value = checked_strdup(flag);
        out->origin = checked_strdup("--token");
        return LT_EXIT_OK;
    }
    const char *from_env = getenv("LOGTAP_TOKEN");
    if (from_env && *from_env) {
        if (!cli_token_ok(from_env)) {
            fprintf(stderr,
                    "logtap: LOGTAP_TOKEN is not a token: a token is 1 to "
                    "%d bytes of printable ASCII without spaces\n",
                    CLI_TOKEN_MAX);
            return LT_EXIT_DENIED;
        }
        out->value = checked_strdup(from_env);
        out->origin = checked_strdup("LOGTAP_TOKEN");
        return LT_EXIT_OK;
    }
    if (!out->credentials_path)
        return LT_EXIT_OK;

    lt_buf text = {0};
    bool exists = false;
    int code = read_credentials(out->credentials_path, &text, &exists);
    if (code == LT_EXIT_OK && !exists && named_by) {
        fprintf(stderr, "logtap: the credentials file %s (from %s) does not exist\n", out->credentials_path,
                named_by);
        code = LT_EXIT_DENIED;
    }
    if (code == LT_EXIT_OK && exists) {
        char *token = cli_token_for_server_new(out->credentials_path, &text, server_url);
        if (token && !cli_token_ok(token)) {
            fprintf(stderr,
                    "logtap: %s: the token for %s is not a token (printable "
                    "ASCII without spaces, at most %d bytes); not using it\n",
                    out->credentials_path, server_url, CLI_TOKEN_MAX);
            free(token);
            token = NULL;
        }
        if (token) {
            out->value = token;
            out->origin = checked_strdup(out->credentials_path);
        }
    }
    lt_buf_release(&text);
    return code;
}
