/* test_ui.c -- the embedded dashboard files are exactly ui/'s files.
 *
 * Every name in ui/meson.build is found, with the bytes on disk and the
 * content type its extension implies; names that are not exactly an
 * embedded base name (paths, traversal, case changes, encodings, empty)
 * find nothing. Takes the source root as argv[1].
 */
#include "unit.h"

#include "ui.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    char *data = NULL;
    size_t cap = 0, used = 0;
    for (;;) {
        if (used == cap) {
            cap = cap ? cap * 2 : 4096;
            data = realloc(data, cap);
            REQUIRE(data != NULL);
        }
        size_t n = fread(data + used, 1, cap - used, f);
        used += n;
        if (n == 0)
            break;
    }
    fclose(f);
    *len = used;
    return data;
}

static void check_asset(const char *src, const char *name, const char *type)
{
    const lt_ui_asset *asset = lt_ui_find(name);
    CHECK(asset != NULL);
    if (asset == NULL) {
        fprintf(stderr, "  %s is not embedded\n", name);
        return;
    }
    CHECK_STR(asset->name, name);
    CHECK_STR(asset->content_type, type);
    char *path;
    REQUIRE(asprintf(&path, "%s/ui/%s", src, name) > 0);
    size_t len;
    char *disk = read_file(path, &len);
    CHECK_INT(asset->len, len);
    CHECK(asset->len == len && memcmp(asset->data, disk, len) == 0);
    free(disk);
    free(path);
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    const char *src = argv[1];

    check_asset(src, "index.html", "text/html; charset=utf-8");
    check_asset(src, "app.js", "text/javascript; charset=utf-8");
    check_asset(src, "api.js", "text/javascript; charset=utf-8");
    check_asset(src, "sse.js", "text/javascript; charset=utf-8");
    check_asset(src, "ansi.js", "text/javascript; charset=utf-8");
    check_asset(src, "logview.js", "text/javascript; charset=utf-8");
    check_asset(src, "style.css", "text/css; charset=utf-8");
    check_asset(src, "favicon.svg", "image/svg+xml");

    static const char *const absent[] = {
        "",
        "/",
        "index.htm",
        "INDEX.HTML",
        "/index.html",
        "ui/index.html",
        "./index.html",
        "../index.html",
        "index.html/",
        "index.html?x=1",
        "index%2ehtml",
        "meson.build",
        "../meson.build",
        "..",
        ".",
        "app.js\n",
        " app.js",
    };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        if (lt_ui_find(absent[i]) != NULL)
            fprintf(stderr, "  \"%s\" was found\n", absent[i]);
        CHECK(lt_ui_find(absent[i]) == NULL);
    }
    CHECK(lt_ui_find(NULL) == NULL);

    /* index.html loads the page only from files that are embedded. */
    const lt_ui_asset *index = lt_ui_find("index.html");
    REQUIRE(index != NULL);
    char *html = strndup((const char *)index->data, index->len);
    REQUIRE(html != NULL);
    CHECK(strstr(html, "src=\"app.js\"") != NULL && lt_ui_find("app.js") != NULL);
    CHECK(strstr(html, "href=\"style.css\"") != NULL && lt_ui_find("style.css") != NULL);
    /* The collector serves it under a CSP without 'unsafe-inline'. */
    CHECK(strstr(html, "style=") == NULL);
    CHECK(strstr(html, "<script>") == NULL);
    free(html);

    return unit_done("unit-ui");
}
