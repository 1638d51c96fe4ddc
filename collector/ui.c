/* ui.c -- placeholder until the dashboard lands: no assets. */
#include "ui.h"

const lt_ui_asset *lt_ui_find(const char *name) {
    (void)name;
    return NULL;
}
