/* ui.h -- the dashboard's static files (ui/), built into the collector.
 *
 * scripts/embed_ui.py turns every file listed in ui/meson.build into a
 * table entry at build time; nothing is read from disk when serving. The
 * table and its bytes are constant for the life of the process, so the
 * returned pointers need no ownership or locking.
 */
#ifndef LT_UI_H
#define LT_UI_H

#include <stddef.h>

typedef struct lt_ui_asset {
    const char *name;         /* base name, e.g. "index.html" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} lt_ui_asset;

/* The asset called `name` exactly (no path, no decoding), or NULL. */
const lt_ui_asset *lt_ui_find(const char *name);

#endif
