/*
 * extract_html.c - HTML to blocks (kb_html_extract).
 *
 * HTML goes through libxml2's recovering parser, which already fixes the
 * structure of broken pages (unclosed <p> and <li>); we only walk the tree,
 * iteratively, dropping page chrome and hidden elements.
 */
#include "extract_int.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

#define KB_LIST_DEPTH 64   /* nested <ol> counters kept; deeper: "- " */
#define KB_CSS_DECL_MAX 64 /* inline style declarations compared */

/* ================================================================ HTML */

typedef enum {
    TAG_INLINE = 0,
    TAG_DROP,    /* never read */
    TAG_HEADER,  /* dropped unless inside main/article/section */
    TAG_BLOCK,   /* ends the paragraph before and after it */
    TAG_SECTION, /* a block that scopes <header> */
    TAG_LIST,    /* ul, ol: a block holding items */
    TAG_ITEM,    /* li */
    TAG_ROW,     /* tr */
    TAG_CELL,    /* td, th */
    TAG_HEADING, /* h1..h6 */
    TAG_BR,
    TAG_A,
} tag_kind;

typedef struct {
    const char *name;
    tag_kind kind;
} tag_def;

/* Keep sorted by name: tag_kind_of() uses bsearch, and a misplaced entry
 * would silently read as inline.  Tags not listed are inline. */
static const tag_def tag_defs[] = {
    {"a", TAG_A},
    {"address", TAG_BLOCK},
    {"article", TAG_SECTION},
    {"aside", TAG_DROP},
    {"audio", TAG_DROP},
    {"blockquote", TAG_BLOCK},
    {"body", TAG_BLOCK},
    {"br", TAG_BR},
    {"button", TAG_DROP},
    {"canvas", TAG_DROP},
    {"caption", TAG_BLOCK},
    {"center", TAG_BLOCK},
    {"datalist", TAG_DROP},
    {"dd", TAG_BLOCK},
    {"details", TAG_BLOCK},
    {"dialog", TAG_DROP},
    {"dir", TAG_LIST},
    {"div", TAG_BLOCK},
    {"dl", TAG_BLOCK},
    {"dt", TAG_BLOCK},
    {"embed", TAG_DROP},
    {"fieldset", TAG_BLOCK},
    {"figcaption", TAG_BLOCK},
    {"figure", TAG_BLOCK},
    {"footer", TAG_DROP},
    {"form", TAG_DROP},
    {"h1", TAG_HEADING},
    {"h2", TAG_HEADING},
    {"h3", TAG_HEADING},
    {"h4", TAG_HEADING},
    {"h5", TAG_HEADING},
    {"h6", TAG_HEADING},
    {"head", TAG_DROP},
    {"header", TAG_HEADER},
    {"hgroup", TAG_BLOCK},
    {"hr", TAG_BLOCK},
    {"html", TAG_BLOCK},
    {"iframe", TAG_DROP},
    {"input", TAG_DROP},
    {"label", TAG_DROP},
    {"legend", TAG_BLOCK},
    {"li", TAG_ITEM},
    {"main", TAG_SECTION},
    {"menu", TAG_LIST},
    {"nav", TAG_DROP},
    {"noscript", TAG_DROP},
    {"object", TAG_DROP},
    {"ol", TAG_LIST},
    {"option", TAG_DROP},
    {"p", TAG_BLOCK},
    {"pre", TAG_BLOCK},
    {"script", TAG_DROP},
    {"section", TAG_SECTION},
    {"select", TAG_DROP},
    {"style", TAG_DROP},
    {"summary", TAG_BLOCK},
    {"svg", TAG_DROP},
    {"table", TAG_BLOCK},
    {"tbody", TAG_BLOCK},
    {"td", TAG_CELL},
    {"template", TAG_DROP},
    {"textarea", TAG_DROP},
    {"tfoot", TAG_BLOCK},
    {"th", TAG_CELL},
    {"thead", TAG_BLOCK},
    {"title", TAG_DROP},
    {"tr", TAG_ROW},
    {"ul", TAG_LIST},
    {"video", TAG_DROP},
};

static int tag_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const tag_def *)elem)->name);
}

static tag_kind tag_kind_of(const xmlNode *n)
{
    const tag_def *d;

    if (n->name == NULL)
        return TAG_INLINE;
    d = bsearch(n->name, tag_defs, sizeof tag_defs / sizeof tag_defs[0], sizeof tag_defs[0], tag_cmp);
    return d != NULL ? d->kind : TAG_INLINE;
}

/* Attribute value (in the tree, not copied); "" for a bare attribute. */
static const char *html_attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
        if (a->name == NULL || strcasecmp((const char *)a->name, name) != 0)
            continue;
        if (a->children != NULL && a->children->content != NULL)
            return (const char *)a->children->content;
        return "";
    }
    return NULL;
}

/* s (trimmed) equals word, case-insensitively. */
static int attr_is(const char *s, const char *word)
{
    size_t n, w = strlen(word);

    if (s == NULL)
        return 0;
    while (kb_is_space((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && kb_is_space((unsigned char)s[n - 1]))
        n--;
    return n == w && strncasecmp(s, word, n) == 0;
}

/* Inline style with display:none or visibility:hidden. */
static int css_hides(const char *style)
{
    const char *p = style;

    while (*p != '\0') {
        char decl[KB_CSS_DECL_MAX] = {0};
        size_t o = 0;
        int too_long = 0;

        for (; *p != '\0' && *p != ';'; p++) {
            unsigned char c = (unsigned char)*p;
            if (kb_is_space(c))
                continue;
            if (o + 1 >= sizeof decl) {
                too_long = 1;
                continue;
            }
            decl[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        decl[o] = '\0';
        if (*p == ';')
            p++;
        if (too_long)
            continue;
        if ((strncmp(decl, "display:none", 12) == 0 && (decl[12] == '\0' || decl[12] == '!')) ||
            (strncmp(decl, "visibility:hidden", 17) == 0 && (decl[17] == '\0' || decl[17] == '!')))
            return 1;
    }
    return 0;
}

/* First token of role= names a landmark that holds site chrome. */
static int role_is_chrome(const char *role)
{
    static const char *const chrome[] = {"navigation", "banner", "contentinfo", "complementary",
                                         "search",     "dialog", "alertdialog", NULL};
    size_t n;

    while (kb_is_space((unsigned char)*role))
        role++;
    for (n = 0; role[n] != '\0' && !kb_is_space((unsigned char)role[n]); n++)
        ;
    for (size_t i = 0; chrome[i] != NULL; i++)
        if (strlen(chrome[i]) == n && strncasecmp(role, chrome[i], n) == 0)
            return 1;
    return 0;
}

/* Hidden or chrome by attributes, whatever the tag. */
static int html_hidden(const xmlNode *n)
{
    const char *v;

    if ((v = html_attr(n, "hidden")) != NULL && !attr_is(v, "until-found"))
        return 1;
    if (attr_is(html_attr(n, "aria-hidden"), "true"))
        return 1;
    if ((v = html_attr(n, "style")) != NULL && css_hides(v))
        return 1;
    if ((v = html_attr(n, "role")) != NULL && role_is_chrome(v))
        return 1;
    return 0;
}

static int html_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->name != NULL && strcmp((const char *)n->name, name) == 0;
}

/*
 * Iterative pre-order walk helper: the node after n, not descending into n
 * when skip_children is set, never leaving root.  NULL at the end.
 */
static xmlNode *html_next(xmlNode *n, const xmlNode *root, int skip_children)
{
    if (!skip_children && n->children != NULL)
        return n->children;
    while (n != root && n->next == NULL)
        n = n->parent;
    return n == root ? NULL : n->next;
}

/* ------------------------------------------------ page metadata and roots */

typedef struct {
    xmlNode *title; /* first <title> outside svg */
    const char *canonical;
    xmlNode *main;      /* first visible <main> / role=main */
    xmlNode **articles; /* outermost visible <article>s, when no main */
    size_t narticles, cap;
    int oom;
} html_scan;

static int rel_has_canonical(const char *rel)
{
    const char *p = rel;

    while (*p != '\0') {
        size_t n;
        while (kb_is_space((unsigned char)*p))
            p++;
        for (n = 0; p[n] != '\0' && !kb_is_space((unsigned char)p[n]); n++)
            ;
        if (n == 9 && strncasecmp(p, "canonical", 9) == 0)
            return 1;
        p += n;
    }
    return 0;
}

static void html_scan_doc(xmlNode *root, html_scan *sc)
{
    xmlNode *n = root;

    while (n != NULL) {
        int skip = 0;

        if (n->type == XML_ELEMENT_NODE) {
            tag_kind k = tag_kind_of(n);

            if (html_is(n, "title")) {
                if (sc->title == NULL)
                    sc->title = n;
                skip = 1;
            } else if (html_is(n, "link")) {
                const char *rel = html_attr(n, "rel");
                const char *href = html_attr(n, "href");
                if (sc->canonical == NULL && rel != NULL && href != NULL && rel_has_canonical(rel))
                    sc->canonical = href;
            } else if ((k == TAG_DROP && !html_is(n, "head")) || k == TAG_HEADER || html_hidden(n)) {
                /* <head> is read: title and link live there.  Skipping
                 * <svg> also skips its <title>, an icon label. */
                skip = 1;
            } else if (html_is(n, "main") || attr_is(html_attr(n, "role"), "main")) {
                if (sc->main == NULL)
                    sc->main = n;
                skip = 1;
            } else if (html_is(n, "article")) {
                if (sc->narticles == sc->cap) {
                    size_t cap = sc->cap ? sc->cap * 2 : 8;
                    xmlNode **p = realloc(sc->articles, cap * sizeof *p);
                    if (p == NULL) {
                        sc->oom = 1;
                        return;
                    }
                    sc->articles = p;
                    sc->cap = cap;
                }
                sc->articles[sc->narticles++] = n;
                skip = 1; /* outermost only; a <main> inside is read with it */
            }
        }
        n = html_next(n, root, skip);
    }
}

/*
 * Put text from libxml2, which leaves an '&' only where it could not read
 * an entity.  Browsers still decode the legacy names without ';' (exactly
 * the Latin-1 ones: "&amp more", "&copy 2025"), longest match first; so do
 * we, and anything else stays a literal '&'.
 */
static void html_put_text(kb_text *t, const char *s)
{
    const char *amp;

    while ((amp = strchr(s, '&')) != NULL) {
        char name[9];
        size_t k = 0, best = 0;
        uint32_t value = 0;

        kb_text_put(t, s, (size_t)(amp - s));
        while (k < 8 && ((amp[1 + k] >= 'a' && amp[1 + k] <= 'z') || (amp[1 + k] >= 'A' && amp[1 + k] <= 'Z'))) {
            const htmlEntityDesc *e;

            name[k] = amp[1 + k];
            name[++k] = '\0';
            e = htmlEntityLookup((const xmlChar *)name);
            if (e != NULL && e->value <= 0xFF) {
                best = k;
                value = e->value;
            }
        }
        if (best > 0) {
            kb_text_put_cp(t, value);
            s = amp + 1 + best;
            if (*s == ';')
                s++;
        } else {
            kb_text_put(t, "&", 1);
            s = amp + 1;
        }
    }
    kb_text_puts(t, s);
}

/* ------------------------------------------------------------ tree walk */

typedef struct {
    kb_builder *b;
    kb_text cur;       /* the paragraph, item, row or heading being read */
    size_t prefix_len; /* bytes of list marker at the start of cur */
    const xmlNode *heading;
    int level;
    char *anchor; /* heading anchor, malloc'd */
    const xmlNode *row;
    int sectioning;        /* open main/article/section elements */
    int lists;             /* open ul/ol elements */
    int ol[KB_LIST_DEPTH]; /* next number per open list; -1 for ul */
} html_walk;

/*
 * End the paragraph being read.  A list marker with no text after it yet
 * stays, for the item's first text (<li><p>text</p></li>).
 */
static void walk_flush(html_walk *w)
{
    if (w->prefix_len > 0 && w->cur.d.len <= w->prefix_len)
        return;
    w->prefix_len = 0;
    kb_doc_add(w->b, 0, &w->cur, NULL);
}

/* Forget a list marker that no text followed. */
static void walk_drop_marker(html_walk *w)
{
    if (w->prefix_len > 0 && w->cur.d.len <= w->prefix_len)
        kb_text_clear(&w->cur);
    w->prefix_len = 0;
}

static void walk_set_anchor(html_walk *w, const char *id)
{
    size_t n;

    if (w->anchor != NULL || id == NULL)
        return;
    n = strlen(id);
    if (n == 0 || n > KB_ANCHOR_MAX)
        return;
    w->anchor = kb_clean_copy(id, n, 0);
    if (w->anchor == NULL)
        w->b->oom = 1;
    else if (w->anchor[0] == '\0') {
        free(w->anchor);
        w->anchor = NULL;
    }
}

/* Inside a heading or a table row every block boundary is just a space. */
static int walk_inline_only(const html_walk *w)
{
    return w->heading != NULL || w->row != NULL;
}

/* A block boundary: inside a heading or row only a space (returns 0);
 * else the paragraph being read ends and any unused list marker goes, in
 * the order the element needs (returns 1). */
static int walk_boundary(html_walk *w, int marker_first)
{
    if (walk_inline_only(w)) {
        kb_text_space(&w->cur);
        return 0;
    }
    if (marker_first) {
        walk_drop_marker(w);
        walk_flush(w);
    } else {
        walk_flush(w);
        walk_drop_marker(w);
    }
    return 1;
}

/* The edge of a plain block: a space inside a heading or row, else the
 * paragraph being read ends. */
static void walk_end_block(html_walk *w)
{
    if (walk_inline_only(w))
        kb_text_space(&w->cur);
    else
        walk_flush(w);
}

static void walk_open(html_walk *w, const xmlNode *n, tag_kind k)
{
    switch (k) {
    case TAG_BR:
        kb_text_space(&w->cur);
        break;
    case TAG_A:
        if (w->heading != NULL) {
            const char *id = html_attr(n, "id");
            walk_set_anchor(w, id != NULL ? id : html_attr(n, "name"));
        }
        break;
    case TAG_HEADING:
        if (!walk_boundary(w, 1)) {
            break;
        }
        w->heading = n;
        w->level = n->name[1] - '0';
        walk_set_anchor(w, html_attr(n, "id"));
        break;
    case TAG_ROW:
        if (!walk_boundary(w, 1)) {
            break;
        }
        w->row = n;
        break;
    case TAG_CELL:
        if (w->row != NULL)
            kb_text_sep(&w->cur, " | ");
        else if (w->heading != NULL)
            kb_text_space(&w->cur);
        else
            walk_flush(w);
        break;
    case TAG_ITEM: {
        char marker[24];
        int num;

        if (!walk_boundary(w, 0)) {
            break;
        }
        num = w->lists > 0 && w->lists <= KB_LIST_DEPTH ? w->ol[w->lists - 1] : -1;
        if (num >= 0) {
            snprintf(marker, sizeof marker, "%d.", num);
            w->ol[w->lists - 1]++;
        } else {
            snprintf(marker, sizeof marker, "-");
        }
        kb_text_raw(&w->cur, marker, strlen(marker));
        kb_text_space(&w->cur);
        w->prefix_len = w->cur.d.len;
        break;
    }
    case TAG_LIST:
        if (w->lists < KB_LIST_DEPTH) {
            const char *start = html_attr(n, "start");
            long v = start != NULL ? strtol(start, NULL, 10) : 1;
            w->ol[w->lists] = html_is(n, "ol") ? (v >= 0 && v < 1000000 ? (int)v : 1) : -1;
        }
        w->lists++;
        goto block;
    case TAG_SECTION:
    case TAG_HEADER:
        w->sectioning++;
        goto block;
    case TAG_BLOCK:
    block:
        walk_end_block(w);
        break;
    default:
        break;
    }
}

static void walk_close(html_walk *w, const xmlNode *n, tag_kind k)
{
    switch (k) {
    case TAG_HEADING:
        if (n != w->heading) {
            kb_text_space(&w->cur);
            break;
        }
        kb_doc_add(w->b, w->level, &w->cur, w->anchor);
        free(w->anchor);
        w->anchor = NULL;
        w->heading = NULL;
        w->level = 0;
        break;
    case TAG_ROW:
        if (n != w->row) {
            kb_text_space(&w->cur);
            break;
        }
        walk_flush(w);
        w->row = NULL;
        break;
    case TAG_CELL:
        if (w->row == NULL && w->heading == NULL)
            walk_flush(w);
        break;
    case TAG_LIST:
        w->lists--;
        goto block;
    case TAG_SECTION:
    case TAG_HEADER:
        w->sectioning--;
        goto block;
    case TAG_ITEM:
        walk_boundary(w, 0);
        break;
    case TAG_BLOCK:
    block:
        walk_end_block(w);
        break;
    default:
        break;
    }
}

static int walk_dropped(const html_walk *w, const xmlNode *n, tag_kind k)
{
    if (k == TAG_DROP)
        return 1;
    if (k == TAG_HEADER && w->sectioning == 0)
        return 1;
    return html_hidden(n);
}

static void html_walk_tree(html_walk *w, xmlNode *root)
{
    xmlNode *n = root;

    while (n != NULL && !w->b->oom) {
        int skip = 1;

        if (n->type == XML_ELEMENT_NODE) {
            tag_kind k = tag_kind_of(n);
            if (!walk_dropped(w, n, k)) {
                walk_open(w, n, k);
                if (n->children != NULL)
                    skip = 0;
                else
                    walk_close(w, n, k);
            }
        } else if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content != NULL) {
            html_put_text(&w->cur, (const char *)n->content);
        }
        if (!skip) {
            n = n->children;
            continue;
        }
        /* Leave finished elements, closing each on the way up. */
        while (n != root && n->next == NULL) {
            n = n->parent;
            walk_close(w, n, tag_kind_of(n));
        }
        n = n == root ? NULL : n->next;
    }
    walk_flush(w);
    walk_drop_marker(w);
    if (w->cur.oom)
        w->b->oom = 1;
}

static int lang_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > KB_LANG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static char *html_node_text(const xmlNode *n, size_t cap)
{
    kb_text t = {0};
    char *p;

    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (c->type == XML_TEXT_NODE && c->content != NULL)
            html_put_text(&t, (const char *)c->content);
    p = t.oom ? NULL : kb_clean_copy(dyn_str(&t.d), t.d.len, cap);
    kb_text_free(&t);
    return p;
}

kb_status kb_html_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen)
{
    const int opts =
        HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET | HTML_PARSE_IGNORE_ENC;
    html_scan sc = {0};
    html_walk w = {0};
    kb_doc *doc = b->doc;
    xmlDoc *x;
    xmlNode *root;
    kb_status st = KB_OK;

    if (len > INT32_MAX) {
        kb_set_err(err, errlen, "document too large for the HTML parser");
        return KB_ETOOBIG;
    }
    x = htmlReadMemory(text, (int)len, NULL, "UTF-8", opts);
    if (x == NULL) {
        kb_set_err(err, errlen, "the HTML parser returned no document");
        return KB_EPARSE;
    }
    root = xmlDocGetRootElement(x);
    if (root == NULL)
        goto out; /* nothing at all: reported as empty by the caller */

    html_scan_doc(root, &sc);
    if (sc.oom) {
        b->oom = 1;
        goto out;
    }
    if (sc.title != NULL && (doc->title = html_node_text(sc.title, KB_TITLE_MAX)) == NULL) {
        b->oom = 1;
        goto out;
    }
    if (sc.canonical != NULL && strlen(sc.canonical) <= KB_URL_MAX) {
        doc->canonical_url = kb_clean_copy(sc.canonical, strlen(sc.canonical), 0);
        if (doc->canonical_url == NULL) {
            b->oom = 1;
            goto out;
        }
        if (doc->canonical_url[0] == '\0') {
            free(doc->canonical_url);
            doc->canonical_url = NULL;
        }
    }
    if (html_is(root, "html")) {
        const char *lang = html_attr(root, "lang");
        if (lang != NULL && lang_ok(lang) && (doc->lang = strdup(lang)) == NULL) {
            b->oom = 1;
            goto out;
        }
    }

    w.b = b;
    if (sc.main != NULL) {
        html_walk_tree(&w, sc.main);
    } else if (sc.narticles > 0) {
        for (size_t i = 0; i < sc.narticles; i++)
            html_walk_tree(&w, sc.articles[i]);
    } else {
        xmlNode *body = root;
        for (xmlNode *c = root->children; c != NULL; c = c->next)
            if (html_is(c, "body"))
                body = c;
        html_walk_tree(&w, body);
    }
out:
    if (b->oom) {
        kb_set_err(err, errlen, "out of memory extracting HTML");
        st = KB_ENOMEM;
    }
    free(w.anchor);
    kb_text_free(&w.cur);
    free(sc.articles);
    xmlFreeDoc(x);
    return st;
}
