/*
 * extract_plain.c - plain text to blocks (kb_plain_extract): paragraphs on
 * blank lines, underlined and all-capitals headings, bullet lines.  It
 * shares the Markdown line helpers (rules, list markers, blank lines).
 */
#include "extract_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

#define KB_CAPS_HEAD_MAX 80 /* longest capitals-only line taken as heading */

/* ========================================================== plain text */

/* "=====", "-----", "*****" ... (three or more, blanks around). */
static int text_rule_char(const char *s, size_t n)
{
    static const char rules[] = "=-*_~#+";

    for (const char *r = rules; *r != '\0'; r++)
        if (kb_md_rule_of(s, n, *r, 3, 0))
            return *r;
    return 0;
}

/* A short line in capitals ("CONTACT", "2. FEES") reads as a heading. */
static int text_caps_heading(const char *s, size_t n)
{
    size_t upper = 0;

    if (n == 0 || n > KB_CAPS_HEAD_MAX || s[n - 1] == '.' || s[n - 1] == ',')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'a' && s[i] <= 'z')
            return 0;
        if (s[i] >= 'A' && s[i] <= 'Z')
            upper++;
    }
    return upper >= 2;
}

static int text_bullet(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (n - i >= 4 && strncmp(s + i, "\xE2\x80\xA2 ", 4) == 0) /* "• " */
        return 1;
    return kb_md_list_marker(s + i, n - i) > 0;
}

typedef struct {
    kb_builder *b;
    kb_text cur;
    size_t lines;      /* lines in cur */
    size_t para_lines; /* lines since the last blank line */
} text_state;

static void text_flush(text_state *ts, int maybe_heading)
{
    int level = 0;

    if (maybe_heading && ts->lines == 1 && ts->para_lines == 1 && text_caps_heading(ts->cur.d.data, ts->cur.d.len))
        level = 2;
    kb_doc_add(ts->b, level, &ts->cur, NULL);
    ts->lines = 0;
}

kb_status kb_plain_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen)
{
    text_state ts = {0};
    size_t pos = 0;

    ts.b = b;
    while (pos < len && !b->oom) {
        size_t ll;
        const char *line = kb_md_line(text, len, &pos, &ll);
        int rule;

        if (kb_md_blank(line, ll)) {
            text_flush(&ts, 1);
            ts.para_lines = 0;
            continue;
        }
        if (b->doc->title == NULL && !text_rule_char(line, ll)) {
            b->doc->title = kb_clean_copy(line, ll, KB_TITLE_MAX);
            if (b->doc->title == NULL)
                b->oom = 1;
        }
        if ((rule = text_rule_char(line, ll)) != 0) {
            if (ts.lines == 1 && ts.para_lines == 1)
                kb_doc_add(b, rule == '=' ? 1 : 2, &ts.cur, NULL);
            else
                text_flush(&ts, 0);
            ts.lines = 0;
            ts.para_lines = 0; /* what follows is a new paragraph */
            continue;
        }
        if (ts.lines > 0 && text_bullet(line, ll))
            text_flush(&ts, 0);
        kb_text_space(&ts.cur);
        kb_text_put(&ts.cur, line, ll);
        ts.lines++;
        ts.para_lines++;
    }
    text_flush(&ts, 1);
    if (ts.cur.oom)
        b->oom = 1;
    kb_text_free(&ts.cur);
    if (b->oom) {
        kb_set_err(err, errlen, "out of memory extracting text");
        return KB_ENOMEM;
    }
    return KB_OK;
}
