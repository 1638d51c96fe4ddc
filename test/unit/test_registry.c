/* test_registry.c -- users, tokens, deploys and account defaults on a real
 * store file, and the access rules (access.c) over their whole matrix. */
#include "unit.h"

#include "access.h"
#include "registry.h"
#include "store.h"

static void test_tokens(lt_registry *reg)
{
    char admin_token[LT_TOKEN_LEN + 1], again[LT_TOKEN_LEN + 1] = "";
    bool created = false;
    CHECK_INT(lt_registry_bootstrap(reg, admin_token, &created), 0);
    CHECK(created);
    CHECK_INT(strlen(admin_token), LT_TOKEN_LEN);
    CHECK(strncmp(admin_token, "lt_", 3) == 0);
    CHECK_INT(lt_registry_bootstrap(reg, again, &created), 0); /* idempotent */
    CHECK(!created);
    CHECK_STR(again, "");

    lt_principal who;
    CHECK_INT(lt_registry_authenticate(reg, admin_token, &who), 1);
    CHECK_STR(who.user, "admin");
    CHECK(who.admin);
    CHECK_INT(who.scope, LT_SCOPE_FULL);

    char token[LT_TOKEN_LEN + 1];
    lt_token_info info;
    CHECK_INT(lt_registry_token_create(reg, "alice", "laptop", LT_SCOPE_FULL, token, &info), 0);
    CHECK(strncmp(info.id, "tok_", 4) == 0 && strlen(info.id) == LT_TOKEN_ID_LEN);
    CHECK_STR(info.user, "alice");
    CHECK_STR(info.label, "laptop");
    CHECK(strcmp(token, admin_token) != 0);
    CHECK_INT(lt_registry_authenticate(reg, token, &who), 1);
    CHECK_STR(who.user, "alice");
    CHECK(!who.admin);
    CHECK_INT(who.scope, LT_SCOPE_FULL);
    CHECK_INT(info.scope, LT_SCOPE_FULL);

    /* Scoped tokens: the scope is stored, listed and authenticated. */
    char scoped[LT_TOKEN_LEN + 1];
    lt_token_info scoped_info, scoped_got;
    for (lt_token_scope scope = LT_SCOPE_FULL; scope <= LT_SCOPE_METRICS; scope++) {
        CHECK_INT(lt_registry_token_create(reg, "dora", "scoped", scope, scoped, &scoped_info), 0);
        CHECK_INT(scoped_info.scope, scope);
        CHECK_INT(lt_registry_authenticate(reg, scoped, &who), 1);
        CHECK_STR(who.user, "dora");
        CHECK_INT(who.scope, scope);
        CHECK_INT(lt_registry_token_get(reg, scoped_info.id, &scoped_got), 1);
        CHECK_INT(scoped_got.scope, scope);
        lt_token_scope parsed = LT_SCOPE_METRICS;
        CHECK_INT(lt_token_scope_parse(lt_token_scope_name(scope), &parsed), 0);
        CHECK_INT(parsed, scope);
    }
    lt_token_scope unchanged = LT_SCOPE_READ;
    CHECK_INT(lt_token_scope_parse("admin", &unchanged), -1);
    CHECK_INT(lt_token_scope_parse("", &unchanged), -1);
    CHECK_INT(lt_token_scope_parse(NULL, &unchanged), -1);
    CHECK_INT(unchanged, LT_SCOPE_READ);

    /* Malformed and unknown tokens are simply not found. */
    const char *bad[] = {"",
                         "lt_",
                         "lt_abc",
                         "xx_000000000000000000000000000000000000000000000000",
                         "lt_00000000000000000000000000000000000000000000000G",
                         NULL};
    for (int i = 0; bad[i] != NULL; i++)
        CHECK_INT(lt_registry_authenticate(reg, bad[i], &who), 0);
    CHECK_INT(lt_registry_authenticate(reg, NULL, &who), 0);
    char flipped[LT_TOKEN_LEN + 1];
    memcpy(flipped, token, sizeof flipped);
    flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
    CHECK_INT(lt_registry_authenticate(reg, flipped, &who), 0);

    lt_token_info got;
    CHECK_INT(lt_registry_token_get(reg, info.id, &got), 1);
    CHECK_STR(got.user, "alice");
    CHECK_INT(lt_registry_token_get(reg, "tok_000000000000", &got), 0);
    CHECK_INT(lt_registry_token_revoke(reg, info.id), 1);
    CHECK_INT(lt_registry_token_revoke(reg, info.id), 0);
    CHECK_INT(lt_registry_authenticate(reg, token, &who), 0);
}

static int count_cb(const lt_app_info *app, void *ctx)
{
    (void)app;
    (*(int *)ctx)++;
    return 0;
}

static void test_apps_and_accounts(lt_registry *reg)
{
    lt_app_info app;
    CHECK_INT(lt_registry_app_get(reg, "a1", &app), 0);
    CHECK(!app.deployed);
    CHECK_INT(lt_registry_app_get(reg, "", &app), 0);

    /* The account default is read at deploy time, not later. */
    CHECK_INT(lt_registry_app_deploy(reg, "a1", "alice", -1, true, &app), 0);
    CHECK(app.deployed && !app.private_logs && app.private_from_default);
    CHECK_STR(app.owner, "alice");
    CHECK_INT(lt_registry_account_set(reg, "alice", true), 0);
    bool flag = false;
    CHECK_INT(lt_registry_account_get(reg, "alice", &flag), 1);
    CHECK(flag);
    CHECK_INT(lt_registry_app_get(reg, "a1", &app), 1);
    CHECK(!app.private_logs); /* unchanged until redeployed */
    CHECK_INT(lt_registry_app_deploy(reg, "a1", "alice", -1, true, &app), 0);
    CHECK(app.private_logs && app.private_from_default);
    CHECK_INT(lt_registry_app_deploy(reg, "a1", "alice", 0, true, &app), 0);
    CHECK(!app.private_logs && !app.private_from_default); /* explicit wins */

    /* keep_owner: another user's app is left alone; admin may move it. */
    CHECK_INT(lt_registry_app_deploy(reg, "a1", "bob", 1, true, &app), 1);
    CHECK_STR(app.owner, "alice");
    CHECK_INT(lt_registry_app_get(reg, "a1", &app), 1);
    CHECK(!app.private_logs);
    CHECK_INT(lt_registry_app_deploy(reg, "a1", "bob", 1, false, &app), 0);
    CHECK_STR(app.owner, "bob");
    CHECK_INT(lt_registry_account_get(reg, "bob", &flag), 1); /* created by the deploy */
    CHECK(!flag);
    CHECK_INT(lt_registry_account_get(reg, "nobody", &flag), 0);

    CHECK_INT(lt_registry_app_deploy(reg, "a2", "alice", 1, true, &app), 0);
    int all = 0, alices = 0;
    CHECK_INT(lt_registry_app_list(reg, NULL, count_cb, &all), 2);
    CHECK_INT(lt_registry_app_list(reg, "alice", count_cb, &alices), 1);
    CHECK_INT(all, 2);
    CHECK_INT(alices, 1);
}

static void test_access_matrix(void)
{
    lt_principal admin = {.user = "admin", .admin = true};
    lt_principal owner = {.user = "alice"}, caller = {.user = "bob"}, other = {.user = "carol"};
    lt_app_info public_app = {.deployed = true, .owner = "alice", .private_logs = false};
    lt_app_info private_app = {.deployed = true, .owner = "alice", .private_logs = true};
    lt_app_info undeployed = {.deployed = false};

    CHECK_INT(lt_access_runner_logs(&owner, &public_app), LT_SEE_ALL);
    CHECK_INT(lt_access_runner_logs(&owner, &private_app), LT_SEE_ALL);
    CHECK_INT(lt_access_runner_logs(&caller, &public_app), LT_SEE_NOTHING);
    CHECK_INT(lt_access_runner_logs(&other, &private_app), LT_SEE_NOTHING);
    CHECK_INT(lt_access_runner_logs(&admin, &undeployed), LT_SEE_ALL);
    CHECK_INT(lt_access_runner_logs(&owner, &undeployed), LT_SEE_NOTHING);

    CHECK_INT(lt_access_request_logs(&owner, &private_app, "bob"), LT_SEE_ALL);
    CHECK_INT(lt_access_request_logs(&caller, &public_app, "bob"), LT_SEE_ALL);
    CHECK_INT(lt_access_request_logs(&caller, &private_app, "bob"), LT_SEE_EMPTY);
    CHECK_INT(lt_access_request_logs(&caller, &undeployed, "bob"), LT_SEE_EMPTY);
    CHECK_INT(lt_access_request_logs(&other, &public_app, "bob"), LT_SEE_NOTHING);
    CHECK_INT(lt_access_request_logs(&other, &public_app, NULL), LT_SEE_NOTHING);
    CHECK_INT(lt_access_request_logs(&other, &public_app, ""), LT_SEE_NOTHING);
    CHECK_INT(lt_access_request_logs(&admin, &private_app, "bob"), LT_SEE_ALL);
    /* The owner of another app is nobody here. */
    lt_app_info carols = {.deployed = true, .owner = "carol"};
    CHECK_INT(lt_access_request_logs(&owner, &carols, "bob"), LT_SEE_NOTHING);

    /* A token's scope: the rows of access.h's table, for admin and not. */
    static const struct {
        bool admin;
        lt_token_scope scope;
        bool read, change, metrics;
    } scopes[] = {
        {true, LT_SCOPE_FULL, true, true, true},      {false, LT_SCOPE_FULL, true, true, false},
        {true, LT_SCOPE_READ, true, false, true},     {false, LT_SCOPE_READ, true, false, false},
        {true, LT_SCOPE_METRICS, false, false, true}, {false, LT_SCOPE_METRICS, false, false, true},
    };
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
        lt_principal who = {.user = "u", .admin = scopes[i].admin, .scope = scopes[i].scope};
        CHECK_INT(lt_access_call_allowed(&who, LT_CALL_READ), scopes[i].read);
        CHECK_INT(lt_access_call_allowed(&who, LT_CALL_CHANGE), scopes[i].change);
        CHECK_INT(lt_access_call_allowed(&who, LT_CALL_METRICS), scopes[i].metrics);
    }
}

int main(void)
{
    char *root = unit_make_temp_dir();
    char err[256] = "";
    CHECK(lt_registry_open(root, err, sizeof err) == NULL); /* no store yet */
    lt_store *store = lt_store_open(root, err, sizeof err);
    REQUIRE(store != NULL);
    lt_registry *reg = lt_registry_open(root, err, sizeof err);
    REQUIRE(reg != NULL);
    test_tokens(reg);
    test_apps_and_accounts(reg);
    test_access_matrix();
    lt_registry_close(reg);
    lt_store_close(store);
    unit_remove_tree(root);
    free(root);
    return unit_done("unit-registry");
}
