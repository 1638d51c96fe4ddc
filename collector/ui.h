/* ui.h -- the dashboard's static files, embedded in logtap-collector at
 * build time so that the collector serves the page with nothing to install
 * beside it and nothing fetched from elsewhere. */
#ifndef LT_UI_H
#define LT_UI_H

#include <stddef.h>

typedef struct lt_ui_asset {
    const char *name;
    const char *content_type;
    const unsigned char *data;
    size_t len;
} lt_ui_asset;

/* The asset called `name` ("index.html", "app.js"), or NULL. */
const lt_ui_asset *lt_ui_find(const char *name);

#endif
