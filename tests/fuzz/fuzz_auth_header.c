/* fuzz_auth_header.c: the Authorization header of the gateway
 * (auth_bearer_value, gateway/auth.c) and the session token check behind it
 * (auth_check_token, lib/token.c).
 *
 * Input: the header value. Tokens are signed with FUZZ_SECRET. Checked: a
 * bearer points into the header after "Bearer " and is not empty; a token
 * that checks out names a valid session id whose own token it is. */
#include <strings.h>

#include "auth.h"
#include "fuzz.h"
#include "token.h"

#define FUZZ_SECRET "fuzz-session-secret-0123456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    if (auth_init(FUZZ_SECRET, "fuzz-ip-secret", NULL, NULL, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "auth_init: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = fuzz_cstr(data, size);
    const char *tok = auth_bearer_value(h);
    if (tok != NULL) {
        FUZZ_CHECK(strncasecmp(h, "Bearer ", 7) == 0, "bearer from \"%s\"", h);
        FUZZ_CHECK(tok >= h + 7 && tok < h + strlen(h) && *tok != '\0' && *tok != ' ', "bearer out of place");
        char sid[AUTH_SESSION_ID_LEN + 1] = "";
        if (auth_check_token(tok, sid)) {
            FUZZ_CHECK(auth_valid_session_id(sid), "checked token with session id %s", sid);
            char again[TOKEN_LEN + 1];
            FUZZ_CHECK(token_sign((const uint8_t *)FUZZ_SECRET, strlen(FUZZ_SECRET), sid, again) == 0, "sign");
            FUZZ_CHECK(strcmp(again, tok) == 0, "accepted %s, the token of %s is %s", tok, sid, again);
        }
    }
    (void)auth_valid_session_id(h);
    free(h);
    return 0;
}
