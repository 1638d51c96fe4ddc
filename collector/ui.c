/* ui.c -- looks up the dashboard's embedded static files.
 *
 * Owns: the name -> asset lookup over the table that scripts/embed_ui.py
 * generates (ui_assets.inc, included below so the table stays private to
 * this file). The lookup is an exact string comparison against a handful
 * of base names, so no request path can reach anything else: "../x",
 * "a/b", "" and percent-encoded forms simply match nothing. The router
 * (http.c) decides which URLs map to a name; this file only answers
 * whether that name was built in.
 */
#include "ui.h"

#include <assert.h>
#include <string.h>

#include "ui_assets.inc"

const lt_ui_asset *lt_ui_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof ui_assets / sizeof ui_assets[0]; i++) {
        assert(ui_assets[i].name != NULL && ui_assets[i].content_type != NULL);
        if (strcmp(ui_assets[i].name, name) == 0)
            return &ui_assets[i];
    }
    return NULL;
}
