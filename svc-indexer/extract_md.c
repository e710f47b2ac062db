/*
 * extract_md.c - Markdown to blocks (kb_md_extract).
 *
 * Parsed line by line here: we need the structure (headings, paragraphs,
 * list items, table rows) and clean text, not rendering, and a full
 * CommonMark implementation would be far more code than that needs.  Every
 * forward scan in the inline parser draws from a per-paragraph budget, so
 * hostile input stays linear.
 */
#include "extract_int.h"

#include <libxml/HTMLparser.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

/* -------------------------------------------------------------- inlines */

typedef struct {
    kb_text *out;
    size_t budget; /* bytes the forward scans may still look at */
} md_inline_ctx;

static int md_is_punct(unsigned char c)
{
    return c < 0x80 && c > 0x20 && c != 0x7F && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
           !(c >= 'A' && c <= 'Z');
}

/* Take one step of scan budget; 0 when it is spent. */
static int md_spend(md_inline_ctx *cx)
{
    if (cx->budget == 0)
        return 0;
    cx->budget--;
    return 1;
}

/* Closing bracket matching s[i] == '[', or 0. */
static size_t md_match_bracket(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    int depth = 0;

    for (size_t j = i; j < n && md_spend(cx); j++) {
        if (s[j] == '\\' && j + 1 < n) {
            j++;
        } else if (s[j] == '[') {
            depth++;
        } else if (s[j] == ']' && --depth == 0) {
            return j;
        }
    }
    return 0;
}

/* Closing parenthesis matching s[i] == '(', or 0. */
static size_t md_match_paren(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    int depth = 0;

    for (size_t j = i; j < n && md_spend(cx); j++) {
        if (s[j] == '\\' && j + 1 < n) {
            j++;
        } else if (s[j] == '(') {
            depth++;
        } else if (s[j] == ')' && --depth == 0) {
            return j;
        }
    }
    return 0;
}

/* &name; &#123; &#x1F; at s[i]: put the character and return the length
 * consumed, or 0 when it is not an entity. */
static size_t md_entity(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    char name[40];
    size_t j = i + 1, k = 0;

    if (j < n && s[j] == '#') {
        int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
        uint32_t v = 0;
        size_t digits = 0;

        for (j += hex ? 2 : 1; j < n && digits < 8; j++, digits++) {
            unsigned char c = (unsigned char)s[j];
            int d = c >= '0' && c <= '9'          ? c - '0'
                    : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                  : -1;
            if (d < 0)
                break;
            v = v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (digits == 0 || j >= n || s[j] != ';')
            return 0;
        kb_text_put_cp(cx->out, v > 0x10FFFF ? 0xFFFD : v);
        return j + 1 - i;
    }
    while (j < n && k + 1 < sizeof name &&
           ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9')))
        name[k++] = s[j++];
    name[k] = '\0';
    if (k == 0 || j >= n || s[j] != ';')
        return 0;
    {
        const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)name);
        if (e == NULL)
            return 0;
        kb_text_put_cp(cx->out, e->value);
    }
    return j + 1 - i;
}

/* <...> at s[i]: autolink (text kept), HTML tag or comment (dropped).
 * Returns the length consumed, or 0 for a literal '<'. */
static size_t md_angle(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    size_t j = i + 1, end, name;

    if (j + 2 < n && strncmp(s + j, "!--", 3) == 0) {
        for (end = j + 3; end + 2 < n && md_spend(cx); end++)
            if (strncmp(s + end, "-->", 3) == 0)
                return end + 3 - i;
        return 0;
    }
    for (end = j; end < n && md_spend(cx) && s[end] != '>' && s[end] != '<' && s[end] != ' '; end++)
        ;
    if (end < n && s[end] == '>' && end > j) {
        const char *colon = memchr(s + j, ':', end - j);
        const char *at = memchr(s + j, '@', end - j);
        if ((colon != NULL && colon > s + j && (s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') ||
            (at != NULL && at > s + j)) {
            kb_text_put(cx->out, s + j, end - j);
            return end + 1 - i;
        }
    }
    /* A tag: '<' or '</' then a letter, then name characters. */
    if (j < n && s[j] == '/')
        j++;
    name = j;
    if (j >= n || !((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')))
        return 0;
    while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9') ||
                     s[j] == '-'))
        j++;
    if (j >= n || !(s[j] == '>' || s[j] == '/' || kb_is_space((unsigned char)s[j])))
        return 0;
    for (end = j; end < n && md_spend(cx) && s[end] != '>' && s[end] != '<'; end++)
        ;
    if (end >= n || s[end] != '>')
        return 0;
    /* Tags that break lines or blocks separate words; inline ones do not. */
    {
        char tag[12];
        size_t tl = j - name < sizeof tag - 1 ? j - name : sizeof tag - 1;
        static const char *const breaks[] = {"br", "p",  "div",     "li",      "tr", "td", "th", "dt",
                                             "dd", "hr", "summary", "details", "h1", "h2", "h3", "h4",
                                             "h5", "h6", "table",   "ul",      "ol", NULL};
        for (size_t k = 0; k < tl; k++)
            tag[k] = (char)(s[name + k] | 0x20);
        tag[tl] = '\0';
        for (size_t k = 0; breaks[k] != NULL; k++)
            if (strcmp(tag, breaks[k]) == 0)
                kb_text_space(cx->out);
    }
    return end + 1 - i;
}

static void md_inline(md_inline_ctx *cx, const char *s, size_t n, int depth);

/* Bytes that may start inline markup. */
static const unsigned char md_special[256] = {
    ['\\'] = 1, ['`'] = 1, ['!'] = 1, ['['] = 1, ['<'] = 1, ['&'] = 1, ['*'] = 1, ['_'] = 1, ['~'] = 1,
};

/* [text](url), [text][ref], ![alt](src) at s[i] == '['. */
static size_t md_link(md_inline_ctx *cx, const char *s, size_t n, size_t i, int depth)
{
    size_t close, end;

    if (depth >= 4)
        return 0;
    close = md_match_bracket(cx, s, n, i);
    if (close == 0 || close + 1 >= n)
        return 0;
    if (s[close + 1] == '(') {
        end = md_match_paren(cx, s, n, close + 1);
    } else if (s[close + 1] == '[') {
        end = md_match_bracket(cx, s, n, close + 1);
    } else {
        return 0;
    }
    if (end == 0)
        return 0;
    md_inline(cx, s + i + 1, close - i - 1, depth + 1);
    return end + 1 - i;
}

/* A run of '*', '_' or '~' that delimits emphasis (CommonMark flanking
 * rules, simplified: no pairing), and is therefore dropped. */
static int md_is_delim(const char *s, size_t n, size_t i, size_t run)
{
    unsigned char c = (unsigned char)s[i];
    unsigned char prev = i > 0 ? (unsigned char)s[i - 1] : ' ';
    unsigned char next = i + run < n ? (unsigned char)s[i + run] : ' ';
    int prev_sp = kb_is_space(prev), next_sp = kb_is_space(next);
    int prev_p = md_is_punct(prev), next_p = md_is_punct(next);
    int left = !next_sp && (!next_p || prev_sp || prev_p);
    int right = !prev_sp && (!prev_p || next_sp || next_p);

    if (c == '*')
        return left || right;
    if (c == '_')
        return (left && (!right || prev_p)) || (right && (!left || next_p));
    return run == 2 && (left || right); /* "~~" strikethrough */
}

static void md_inline(md_inline_ctx *cx, const char *s, size_t n, int depth)
{
    size_t i = 0;

    while (i < n && !cx->out->oom) {
        unsigned char c = (unsigned char)s[i];
        size_t used = 0, run;

        switch (c) {
        case '\\':
            if (i + 1 < n && md_is_punct((unsigned char)s[i + 1])) {
                kb_text_put(cx->out, s + i + 1, 1);
                used = 2;
            }
            break;
        case '`':
            for (run = 1; i + run < n && s[i + run] == '`'; run++)
                ;
            for (size_t j = i + run; j < n && md_spend(cx); j++) {
                size_t r;
                if (s[j] != '`')
                    continue;
                for (r = 1; j + r < n && s[j + r] == '`'; r++)
                    ;
                if (r == run) {
                    kb_text_put(cx->out, s + i + run, j - i - run);
                    used = j + r - i;
                    break;
                }
                j += r - 1;
            }
            if (used == 0) {
                kb_text_put(cx->out, s + i, run); /* no closing run: literal */
                used = run;
            }
            break;
        case '!':
            if (i + 1 < n && s[i + 1] == '[' && (used = md_link(cx, s, n, i + 1, depth)) > 0)
                used++;
            break;
        case '[':
            used = md_link(cx, s, n, i, depth);
            break;
        case '<':
            used = md_angle(cx, s, n, i);
            break;
        case '&':
            used = md_entity(cx, s, n, i);
            break;
        case '*':
        case '_':
        case '~':
            for (run = 1; i + run < n && s[i + run] == (char)c; run++)
                ;
            if (!md_is_delim(s, n, i, run))
                kb_text_put(cx->out, s + i, run);
            used = run;
            break;
        default: {
            size_t j = i;
            while (j < n && !md_special[(unsigned char)s[j]])
                j++;
            kb_text_put(cx->out, s + i, j - i);
            used = j - i;
            break;
        }
        }
        if (used == 0) {
            kb_text_put(cx->out, s + i, 1); /* a literal special character */
            used = 1;
        }
        i += used;
    }
}

/* Clean raw Markdown inline text into out. */
static void md_clean(const char *s, size_t n, kb_text *out)
{
    md_inline_ctx cx = {out, 4 * n + 4096};

    md_inline(&cx, s, n, 0);
}

/* --------------------------------------------------------------- blocks */

typedef enum { MD_NONE, MD_PARA, MD_ITEM } md_kind;

typedef struct {
    kb_builder *b;
    kb_text raw; /* raw Markdown of the open paragraph or item */
    kb_text out; /* cleaned text being built */
    kb_text scratch;
    md_kind kind;
    char marker[16]; /* "-" or "3." for an item */
    char fence;      /* '`' or '~' inside a fenced code block, else 0 */
    size_t fence_len;
    int in_comment;
    int in_table;
    kb_slug_set slugs;
    char *fm_title;
} md_state;

static void md_flush(md_state *st)
{
    if (st->kind != MD_NONE && st->raw.d.len > 0) {
        kb_text_clear(&st->out);
        if (st->kind == MD_ITEM) {
            kb_text_raw(&st->out, st->marker, strlen(st->marker));
            kb_text_space(&st->out);
        }
        md_clean(st->raw.d.data, st->raw.d.len, &st->out);
        if (st->kind == MD_ITEM && st->out.d.len == strlen(st->marker))
            kb_text_clear(&st->out);
        kb_doc_add(st->b, 0, &st->out, NULL);
    }
    kb_text_clear(&st->raw);
    st->kind = MD_NONE;
    if (st->raw.oom || st->out.oom)
        st->b->oom = 1;
}

static void md_heading(md_state *st, int level, const char *s, size_t n)
{
    char *slug;

    kb_text_clear(&st->out);
    md_clean(s, n, &st->out);
    if (st->out.oom || st->out.d.len == 0)
        return;
    slug = kb_slug_unique(&st->slugs, st->out.d.data);
    if (slug == NULL) {
        st->b->oom = 1;
        return;
    }
    kb_doc_add(st->b, level, &st->out, slug);
    free(slug);
}

/* Line made of one repeated character c (at least min times) with blanks
 * around it, and between the characters too when spaced is set. */
int kb_md_rule_of(const char *s, size_t n, char c, size_t min, int spaced)
{
    size_t count = 0, i = 0;

    while (i < n && kb_is_space((unsigned char)s[i]))
        i++;
    while (i < n) {
        if (s[i] == c) {
            count++;
            i++;
            continue;
        }
        if (!kb_is_space((unsigned char)s[i]))
            return 0;
        if (!spaced) {
            while (i < n && kb_is_space((unsigned char)s[i]))
                i++;
            return i == n && count >= min;
        }
        i++;
    }
    return count >= min;
}

static int md_thematic_break(const char *s, size_t n)
{
    return kb_md_rule_of(s, n, '-', 3, 1) || kb_md_rule_of(s, n, '*', 3, 1) || kb_md_rule_of(s, n, '_', 3, 1);
}

/* GFM table delimiter row: |, -, :, blanks only, with a '-' and a '|'. */
static int md_table_delim(const char *s, size_t n)
{
    int dash = 0, pipe = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-')
            dash = 1;
        else if (s[i] == '|')
            pipe = 1;
        else if (s[i] != ':' && !kb_is_space((unsigned char)s[i]))
            return 0;
    }
    return dash && pipe;
}

/* One table row: cells split on unescaped '|', cleaned, empty ones
 * dropped, joined with " | ". */
static void md_table_row(md_state *st, const char *s, size_t n)
{
    size_t start = 0;

    kb_text_clear(&st->out);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (i < n && s[i] != '|')
            continue;
        kb_text_sep(&st->out, " | ");
        md_clean(s + start, i - start, &st->out);
        start = i + 1;
    }
    kb_doc_add(st->b, 0, &st->out, NULL);
}

/* List marker at s: "-", "*", "+" or 1-9 digits and "." or ")", followed
 * by a blank or the end.  Returns the marker length, 0 if none. */
size_t kb_md_list_marker(const char *s, size_t n)
{
    size_t i = 0;

    if (n >= 1 && (s[0] == '-' || s[0] == '*' || s[0] == '+'))
        i = 1;
    else {
        while (i < n && i < 9 && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == 0 || i >= n || (s[i] != '.' && s[i] != ')'))
            return 0;
        i++;
    }
    return i == n || s[i] == ' ' || s[i] == '\t' ? i : 0;
}

/* Remove HTML comments (which may span lines) from a line into scratch. */
static void md_strip_comments(md_state *st, const char *s, size_t n)
{
    size_t i = 0;

    kb_text_clear(&st->scratch);
    while (i < n) {
        if (st->in_comment) {
            const char *end = memmem(s + i, n - i, "-->", 3);
            if (end == NULL)
                return;
            i = (size_t)(end - s) + 3;
            st->in_comment = 0;
            continue;
        }
        const char *open = memmem(s + i, n - i, "<!--", 4);
        size_t stop = open != NULL ? (size_t)(open - s) : n;
        kb_text_raw(&st->scratch, s + i, stop - i);
        if (open == NULL)
            return;
        i = stop + 4;
        st->in_comment = 1;
    }
}

int kb_md_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!kb_is_space((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Next line of s[pos..n): sets *len (without '\n') and returns its start. */
const char *kb_md_line(const char *s, size_t n, size_t *pos, size_t *len)
{
    const char *start = s + *pos;
    const char *nl = memchr(start, '\n', n - *pos);
    size_t l = nl != NULL ? (size_t)(nl - start) : n - *pos;

    *len = l;
    *pos += l + (nl != NULL);
    return start;
}

/* YAML front matter: "---" first line up to "---" or "...".  Returns the
 * offset after it (0 when there is none) and picks up "title:". */
static size_t md_front_matter(md_state *st, const char *s, size_t n)
{
    size_t pos = 0, ll;
    const char *line = kb_md_line(s, n, &pos, &ll);

    if (ll < 3 || strncmp(line, "---", 3) != 0 || !kb_md_blank(line + 3, ll - 3))
        return 0;
    while (pos < n) {
        line = kb_md_line(s, n, &pos, &ll);
        if (ll >= 3 && (strncmp(line, "---", 3) == 0 || strncmp(line, "...", 3) == 0) && kb_md_blank(line + 3, ll - 3))
            return pos;
        if (st->fm_title == NULL && ll > 6 && strncmp(line, "title:", 6) == 0) {
            const char *v = line + 6, *ve = line + ll;
            while (v < ve && kb_is_space((unsigned char)*v))
                v++;
            while (ve > v && kb_is_space((unsigned char)ve[-1]))
                ve--;
            if (ve - v >= 2 && (*v == '"' || *v == '\'') && ve[-1] == *v) {
                v++;
                ve--;
            }
            st->fm_title = kb_clean_copy(v, (size_t)(ve - v), KB_TITLE_MAX);
            if (st->fm_title == NULL)
                st->b->oom = 1;
        }
    }
    free(st->fm_title); /* never closed: not front matter */
    st->fm_title = NULL;
    return 0;
}

static void md_line_block(md_state *st, const char *line, size_t len, const char *next, size_t nlen)
{
    size_t col = 0, i = 0, m;
    const char *s;

    /* Block quotes: markers are dropped, the content read as usual. */
    for (;;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i < len && line[i] == '>')
            i++;
        else
            break;
    }
    for (size_t k = 0; k < i; k++)
        col += line[k] == '\t' ? 4 - col % 4 : 1;
    s = line + i;
    len -= i;
    if (kb_md_blank(s, len)) {
        md_flush(st);
        st->in_table = 0;
        return;
    }
    if ((len >= 3 && (strncmp(s, "```", 3) == 0 || strncmp(s, "~~~", 3) == 0)) && (col < 4 || st->kind == MD_ITEM)) {
        size_t fl = 0;
        while (fl < len && s[fl] == s[0])
            fl++;
        if (s[0] != '`' || memchr(s + fl, '`', len - fl) == NULL) {
            md_flush(st);
            kb_text_clear(&st->out);
            st->fence = s[0];
            st->fence_len = fl;
            return;
        }
    }
    if (col < 4 && s[0] == '#') {
        size_t h = 0;
        while (h < len && s[h] == '#')
            h++;
        if (h <= 6 && (h == len || s[h] == ' ' || s[h] == '\t')) {
            size_t e = len;
            md_flush(st);
            st->in_table = 0;
            /* Drop a closing "###" run that follows a blank. */
            while (e > h && kb_is_space((unsigned char)s[e - 1]))
                e--;
            {
                size_t c = e;
                while (c > h && s[c - 1] == '#')
                    c--;
                if (c == h || kb_is_space((unsigned char)s[c - 1]))
                    e = c;
            }
            md_heading(st, (int)h, s + h, e - h);
            return;
        }
    }
    if (col < 4 && st->kind == MD_PARA && st->raw.d.len > 0 &&
        (kb_md_rule_of(s, len, '=', 1, 0) || kb_md_rule_of(s, len, '-', 1, 0))) {
        int level = s[0] == '=' ? 1 : 2;
        kb_text_clear(&st->out);
        md_heading(st, level, st->raw.d.data, st->raw.d.len);
        kb_text_clear(&st->raw);
        st->kind = MD_NONE;
        return;
    }
    if (col < 4 && md_thematic_break(s, len)) {
        md_flush(st);
        return;
    }
    if (memchr(s, '|', len) != NULL && (st->in_table || (next != NULL && md_table_delim(next, nlen)))) {
        if (!st->in_table)
            md_flush(st);
        st->in_table = 1;
        if (!md_table_delim(s, len))
            md_table_row(st, s, len);
        return;
    }
    st->in_table = 0;
    if (col < 4 && st->kind == MD_NONE && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb != NULL && rb + 1 < s + len && rb[1] == ':')
            return; /* link reference definition */
    }
    if ((m = kb_md_list_marker(s, len)) > 0) {
        md_flush(st);
        st->kind = MD_ITEM;
        if (s[0] >= '0' && s[0] <= '9')
            snprintf(st->marker, sizeof st->marker, "%.*s.", (int)(m - 1), s);
        else
            snprintf(st->marker, sizeof st->marker, "-");
        s += m;
        len -= m;
    } else if (st->kind == MD_NONE) {
        st->kind = MD_PARA;
    }
    /* A trailing backslash is a hard line break: just a space here. */
    if (len > 0 && s[len - 1] == '\\')
        len--;
    kb_text_space(&st->raw);
    kb_text_put(&st->raw, s, len);
}

kb_status kb_md_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen)
{
    md_state st = {0};
    size_t pos;

    st.b = b;
    pos = md_front_matter(&st, text, len);
    while (pos < len && !b->oom) {
        size_t ll, nl = 0, npos;
        int was_in_comment;
        const char *line = kb_md_line(text, len, &pos, &ll), *next = NULL;

        if (st.fence) {
            size_t i = 0, f = 0;
            while (i < ll && (line[i] == ' ' || line[i] == '\t'))
                i++;
            while (i + f < ll && line[i + f] == st.fence)
                f++;
            if (f >= st.fence_len && kb_md_blank(line + i + f, ll - i - f)) {
                kb_doc_add(b, 0, &st.out, NULL);
                st.fence = 0;
            } else {
                kb_text_space(&st.out);
                kb_text_put(&st.out, line, ll);
            }
            continue;
        }
        was_in_comment = st.in_comment;
        md_strip_comments(&st, line, ll);
        if (kb_md_blank(dyn_str(&st.scratch.d), st.scratch.d.len) && (was_in_comment || !kb_md_blank(line, ll)))
            continue; /* comment only: not a paragraph break */
        if (pos < len) {
            npos = pos;
            next = kb_md_line(text, len, &npos, &nl);
        }
        md_line_block(&st, dyn_str(&st.scratch.d), st.scratch.d.len, next, nl);
        if (st.out.oom || st.raw.oom || st.scratch.oom)
            b->oom = 1;
    }
    if (st.fence)
        kb_doc_add(b, 0, &st.out, NULL); /* unclosed fence: code to the end */
    md_flush(&st);

    if (st.fm_title != NULL && st.fm_title[0] != '\0') {
        b->doc->title = st.fm_title;
        st.fm_title = NULL;
    }
    free(st.fm_title);
    kb_text_free(&st.raw);
    kb_text_free(&st.out);
    kb_text_free(&st.scratch);
    kb_slug_set_free(&st.slugs);
    if (b->oom) {
        kb_set_err(err, errlen, "out of memory extracting Markdown");
        return KB_ENOMEM;
    }
    return KB_OK;
}
