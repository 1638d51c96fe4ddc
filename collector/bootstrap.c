/* bootstrap.c -- the admin token and the CLI's credentials file; see
 * bootstrap.h.
 *
 * Files are written whole to a temporary name and renamed into place, so a
 * reader never sees half a token, and created with their final mode (0600)
 * so a token is never readable by others, not even for a moment.
 */
#include "bootstrap.h"
#include "dirs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

#define ADMIN_TOKEN_FILE "admin.token"
#define CREDENTIALS_MAX (1024 * 1024)

/* Write `len` bytes to `path` atomically with mode 0600. The temporary
 * file is made with mkostemp (O_EXCL, 0600): nothing already at its name,
 * a planted link included, can receive the token. */
static int write_private_file(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file beside %s: %s", path, strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int lt_bootstrap_admin(const char *data_dir, bool renew, char *said, size_t said_len, char *err,
                       size_t errlen)
{
    said[0] = '\0';
    lt_registry *reg = lt_registry_open(data_dir, err, errlen);
    if (reg == NULL)
        return -1;
    char token[LT_TOKEN_LEN + 1];
    bool created = false;
    int rc = lt_registry_bootstrap(reg, token, &created);
    if (rc == 0 && !created && renew)
        rc = lt_registry_token_create(reg, LT_ADMIN_USER, "renewed", LT_SCOPE_FULL, token, NULL);
    if (rc != 0)
        snprintf(err, errlen, "registry: %s", lt_registry_error(reg));
    lt_registry_close(reg);
    if (rc != 0)
        return -1;

    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/" ADMIN_TOKEN_FILE, data_dir) >= (int)sizeof path) {
        snprintf(err, errlen, "data directory path too long");
        return -1;
    }
    if (created || renew) {
        char line[LT_TOKEN_LEN + 2];
        int len = snprintf(line, sizeof line, "%s\n", token);
        if (write_private_file(path, line, (size_t)len, err, errlen) != 0)
            return -1;
        snprintf(said, said_len, "%s the admin token: %s (mode 0600)", created ? "created" : "renewed", path);
    } else if (access(path, R_OK) != 0) {
        snprintf(said, said_len,
                 "%s is missing: the local CLI cannot be given the admin token "
                 "(--new-admin-token makes a new one)",
                 path);
    }
    return 0;
}

int lt_credentials_default_path(char *path, size_t size)
{
    const char *config = getenv("XDG_CONFIG_HOME");
    int n;
    if (config != NULL && config[0] == '/') {
        n = snprintf(path, size, "%s/logtap/credentials", config);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] != '/')
            return -1;
        n = snprintf(path, size, "%s/.config/logtap/credentials", home);
    }
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* mkdir -p for the directories above `file`, new ones 0700. */
static int make_parent_directories(const char *file, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (lt_mkdir_p(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* The token in DATA/admin.token, or 1 if there is none. */
static int read_admin_token(const char *data_dir, char token[LT_TOKEN_LEN + 1], char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" ADMIN_TOKEN_FILE, data_dir);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[128] = "";
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!got || strlen(line) != LT_TOKEN_LEN) {
        snprintf(err, errlen, "%s does not hold a token", path);
        return -1;
    }
    memcpy(token, line, LT_TOKEN_LEN + 1);
    return 0;
}

int lt_credentials_record(const char *path, const char *url, const char *data_dir, char *err, size_t errlen)
{
    char token[LT_TOKEN_LEN + 1];
    int rc = read_admin_token(data_dir, token, err, errlen);
    if (rc != 0)
        return rc;
    if (make_parent_directories(path, err, errlen) != 0)
        return -1;

    /* Keep every other collector's line; replace ours. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    FILE *in = fopen(path, "re");
    if (in != NULL) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        size_t url_len = strlen(url);
        while ((n = getline(&line, &cap, in)) > 0 && ftell(out) < CREDENTIALS_MAX) {
            bool ours = strncmp(line, url, url_len) == 0 && (line[url_len] == ' ' || line[url_len] == '\t');
            if (ours)
                continue;
            fwrite(line, 1, (size_t)n, out);
            if (line[n - 1] != '\n')
                fputc('\n', out);
        }
        free(line);
        fclose(in);
    }
    fprintf(out, "%s %s\n", url, token);
    if (fclose(out) != 0 || text == NULL) {
        free(text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = write_private_file(path, text, len, err, errlen);
    free(text);
    return rc;
}
