/* json_shape.c: see json_shape.h. */
#include "json_shape.h"

json_shape_status json_shape_check(const char *s, size_t len, unsigned max_depth, unsigned max_keys, json_shape *out)
{
    json_shape sh = {0, 0};
    json_shape_status st = JSON_SHAPE_OK;
    unsigned depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len && st == JSON_SHAPE_OK; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                i++; /* the escaped character, whatever it is */
            } else if (c == '"') {
                in_str = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            break;
        case '{':
        case '[':
            depth++;
            if (depth > sh.depth) {
                sh.depth = depth;
            }
            if (depth > max_depth) {
                st = JSON_SHAPE_TOO_DEEP;
            }
            break;
        case '}':
        case ']':
            if (depth > 0) {
                depth--;
            }
            break;
        case ':': /* one per object member */
            sh.keys++;
            if (sh.keys > max_keys) {
                st = JSON_SHAPE_TOO_MANY_KEYS;
            }
            break;
        default:
            break;
        }
    }
    if (out != NULL) {
        *out = sh;
    }
    return st;
}
