/*
 * test_extract.c - unit tests for svc-indexer/extract.c.
 *
 * Run from the repository root: fixtures are read from tests/data/extract/
 * and the sample site from kb/.  Every successful extraction goes through
 * check_doc(), which asserts the guarantees of extract.h on every string
 * (well-formed UTF-8, no control characters, no double or edge spaces).
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "extract.h"
#include "utf8.h"

#define FIXTURES "tests/data/extract/"
#define REPL "\xEF\xBF\xBD"

/* ------------------------------------------------------------ helpers */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    cr_assert_not_null(f, "cannot open %s (run the tests from the repository root)", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void check_text(const char *what, const char *s, int may_be_empty)
{
    size_t n;

    cr_assert_not_null(s, "%s is NULL", what);
    n = strlen(s);
    cr_expect(utf8_valid(s, n), "%s is not valid UTF-8: %s", what, s);
    if (!may_be_empty)
        cr_expect_gt(n, 0, "%s is empty", what);
    if (n == 0)
        return;
    cr_expect_neq(s[0], ' ', "%s starts with a space: '%s'", what, s);
    cr_expect_neq(s[n - 1], ' ', "%s ends with a space: '%s'", what, s);
    cr_expect_null(strstr(s, "  "), "%s has a double space: '%s'", what, s);
    for (size_t i = 0; i < n; i++)
        cr_expect_geq((unsigned char)s[i], 0x20, "%s has control byte 0x%02x", what, (unsigned char)s[i]);
}

static void check_doc(const kb_doc *d)
{
    check_text("title", d->title, 1);
    cr_expect_lt(strlen(d->title), (size_t)KB_TITLE_MAX);
    if (d->canonical_url != NULL)
        check_text("canonical_url", d->canonical_url, 0);
    if (d->lang != NULL)
        check_text("lang", d->lang, 0);
    cr_expect_gt(d->nblocks, 0);
    for (size_t i = 0; i < d->nblocks; i++) {
        check_text("block text", d->blocks[i].text, 0);
        cr_expect(d->blocks[i].level >= 0 && d->blocks[i].level <= 6, "block level %d", d->blocks[i].level);
        if (d->blocks[i].anchor != NULL) {
            check_text("anchor", d->blocks[i].anchor, 0);
            cr_expect_gt(d->blocks[i].level, 0, "anchor on a paragraph: %s", d->blocks[i].text);
        }
    }
}

static kb_status extract(const char *data, size_t len, kb_format fmt, const char *charset, kb_doc *d)
{
    char err[256] = "untouched";
    kb_status st = kb_extract(data, len, fmt, charset, d, err, sizeof err);

    if (st == KB_OK) {
        cr_expect_str_eq(err, "", "err must be cleared on success");
        check_doc(d);
    } else {
        cr_expect_gt(strlen(err), 0, "an error needs a reason");
        cr_expect_eq(d->nblocks, 0, "doc must be zeroed on error");
        cr_expect_null(d->blocks);
        cr_expect_null(d->title);
    }
    return st;
}

static kb_status extract_str(const char *s, kb_format fmt, kb_doc *d)
{
    return extract(s, strlen(s), fmt, NULL, d);
}

static kb_status extract_file(const char *path, const char *charset, kb_doc *d)
{
    size_t len;
    char *buf = read_file(path, &len);
    kb_status st = extract(buf, len, kb_format_from_name(path, NULL), charset, d);

    free(buf);
    return st;
}

/* All block texts joined with "\n" (static buffer, enough for fixtures). */
static const char *all_text(const kb_doc *d)
{
    static char buf[1 << 16];
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < d->nblocks; i++) {
        int k = snprintf(buf + o, sizeof buf - o, "%s%s", i ? "\n" : "", d->blocks[i].text);
        cr_assert(k >= 0 && (size_t)k < sizeof buf - o, "all_text buffer too small");
        o += (size_t)k;
    }
    return buf;
}

typedef struct {
    int level;
    const char *text;
    const char *anchor; /* NULL: expect none */
} want_block;

static void expect_blocks(const char *label, const kb_doc *d, const want_block *want, size_t n)
{
    cr_expect_eq(d->nblocks, n, "[%s] %zu blocks, got %zu:\n%s", label, n, d->nblocks, all_text(d));
    for (size_t i = 0; i < n && i < d->nblocks; i++) {
        cr_expect_eq(d->blocks[i].level, want[i].level, "[%s] block %zu level", label, i);
        cr_expect_str_eq(d->blocks[i].text, want[i].text, "[%s] block %zu text", label, i);
        if (want[i].anchor == NULL)
            cr_expect_null(d->blocks[i].anchor, "[%s] block %zu: unexpected anchor %s", label, i, d->blocks[i].anchor);
        else if (d->blocks[i].anchor == NULL)
            cr_expect_fail("[%s] block %zu: no anchor, want %s", label, i, want[i].anchor);
        else
            cr_expect_str_eq(d->blocks[i].anchor, want[i].anchor, "[%s] block %zu anchor", label, i);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define S_(lit) lit, sizeof(lit) - 1

/* ------------------------------------------------------- HTML structure */

Test(extract, html_chrome_and_hidden_removed_main_only)
{
    static const char *const gone[] = {
        "STYLEWORD",       "SCRIPTWORD",        "HEADERWORD", "NAVWORD",        "OUTSIDEWORD",     "ASIDEWORD",
        "NOSCRIPTWORD",    "TEMPLATEWORD",      "SVGWORD",    "SVGTEXTWORD",    "FORMWORD",        "BUTTONWORD",
        "LOOSEBUTTONWORD", "IFRAMEWORD",        "HIDDENWORD", "ARIAHIDDENWORD", "DISPLAYNONEWORD", "VISIBILITYWORD",
        "ROLENAVWORD",     "ARTICLEFOOTERWORD", "FOOTERWORD", "TAILSCRIPTWORD", "Login",           "Newsletter",
    };
    static const want_block want[] = {
        {1, "Main Heading", "top"},
        {0, "Intro kept inside the article header.", NULL},
        {0, "First paragraph of real content.", NULL},
        {0, "Found-on-search content is kept.", NULL},
        {0, "Visible to assistive technology.", NULL},
        {0, "Second paragraph, styled but visible.", NULL},
        {2, "Details", "details-anchor"},
        {0, "Closing paragraph.", NULL},
    };
    kb_doc d;

    cr_assert_eq(extract_file(FIXTURES "chrome.html", NULL, &d), KB_OK);
    for (size_t i = 0; i < N(gone); i++)
        cr_expect_null(strstr(all_text(&d), gone[i]), "'%s' leaked into:\n%s", gone[i], all_text(&d));
    expect_blocks("chrome", &d, want, N(want));
    cr_expect_str_eq(d.title, "Fixture Page \xE2\x80\x93 Chrome Test");
    cr_expect_str_eq(d.canonical_url, "https://example.test/fixture");
    cr_expect_str_eq(d.lang, "de-DE");
    kb_doc_free(&d);
}

Test(extract, html_without_main_reads_body_minus_chrome)
{
    kb_doc d;
    const char *html = "<html><body><nav>Menu Login</nav><h1>Hello</h1><p>Body text.</p>"
                       "<footer>Imprint</footer></body></html>";
    static const want_block want[] = {{1, "Hello", NULL}, {0, "Body text.", NULL}};

    cr_assert_eq(extract_str(html, KB_FMT_HTML, &d), KB_OK);
    expect_blocks("body", &d, want, N(want));
    cr_expect_str_eq(d.title, "Hello", "title falls back to the first h1");
    cr_expect_null(d.canonical_url);
    cr_expect_null(d.lang);
    kb_doc_free(&d);
}

Test(extract, html_articles_only_when_no_main)
{
    kb_doc d;
    const char *html = "<body><div class=sidebar>Sidebar promo</div>"
                       "<article><h2>Post one</h2><p>One.</p></article>"
                       "<div>Between posts</div>"
                       "<article><h2>Post two</h2><p>Two.</p><article><p>Nested.</p></article></article>"
                       "</body>";
    static const want_block want[] = {
        {2, "Post one", NULL}, {0, "One.", NULL}, {2, "Post two", NULL}, {0, "Two.", NULL}, {0, "Nested.", NULL},
    };

    cr_assert_eq(extract_str(html, KB_FMT_HTML, &d), KB_OK);
    expect_blocks("articles", &d, want, N(want));
    cr_expect_str_eq(d.title, "Post one", "no h1: first heading");
    kb_doc_free(&d);
}

Test(extract, html_header_outside_sections_dropped_inside_kept)
{
    kb_doc d;
    const char *html = "<body><header><h1>Site name</h1></header>"
                       "<section><header><h2>Section title</h2></header><p>Text.</p></section></body>";
    static const want_block want[] = {{2, "Section title", NULL}, {0, "Text.", NULL}};

    cr_assert_eq(extract_str(html, KB_FMT_HTML, &d), KB_OK);
    expect_blocks("header", &d, want, N(want));
    kb_doc_free(&d);
}

Test(extract, html_broken_markup_still_gives_sensible_text)
{
    static const want_block want[] = {
        {1, "Unclosed things", NULL},
        {0, "First paragraph without an end tag", NULL},
        {0, "Second paragraph, also open", NULL},
        {0, "- Item one", NULL},
        {0, "- Item two with bold", NULL},
        {0, "- Item three", NULL},
        {0, "Cell A | Cell B", NULL},
        {0, "Cell C | Cell D", NULL},
        {0, "Last words & more", NULL},
    };
    kb_doc d;

    cr_assert_eq(extract_file(FIXTURES "broken.html", NULL, &d), KB_OK);
    expect_blocks("broken", &d, want, N(want));
    cr_expect_str_eq(d.title, "Broken page");
    kb_doc_free(&d);
}

Test(extract, html_entities_decoded)
{
    static const struct {
        const char *label;
        const char *html;
        const char *text;
    } tc[] = {
        {"amp", "<p>Salt &amp; pepper</p>", "Salt & pepper"},
        {"euro", "<p>&euro;49</p>",
         "\xE2\x82\xAC"
         "49"},
        {"nbsp is a plain space", "<p>24&nbsp;December &nbsp; &nbsp;x</p>", "24 December x"},
        {"mdash", "<p>a&mdash;b</p>",
         "a\xE2\x80\x94"
         "b"},
        {"uuml", "<p>M&uuml;ller</p>", "M\xC3\xBCller"},
        {"decimal", "<p>&#8364;5</p>",
         "\xE2\x82\xAC"
         "5"},
        {"hex", "<p>&#x20AC;5 &#X20ac;6</p>",
         "\xE2\x82\xAC"
         "5 \xE2\x82\xAC"
         "6"},
        {"lt gt quot", "<p>&lt;b&gt; &quot;q&quot;</p>", "<b> \"q\""},
        {"legacy without semicolon", "<p>&copy 2025 R&D AT&T &amp more</p>", "\xC2\xA9 2025 R&D AT&T & more"},
        {"unknown entity kept", "<p>&bogus; x</p>", "&bogus; x"},
        {"soft hyphen and zero-width space dropped", "<p>co&shy;op&#8203;erate</p>", "cooperate"},
    };

    for (size_t i = 0; i < N(tc); i++) {
        kb_doc d;
        cr_assert_eq(extract_str(tc[i].html, KB_FMT_HTML, &d), KB_OK, "[%s]", tc[i].label);
        cr_expect_eq(d.nblocks, 1, "[%s]", tc[i].label);
        cr_expect_str_eq(d.blocks[0].text, tc[i].text, "[%s]", tc[i].label);
        kb_doc_free(&d);
    }
}

Test(extract, html_heading_anchors)
{
    kb_doc d;
    const char *html = "<main>"
                       "<h1 id=\" plans \">Plans</h1>"
                       "<h2><a id=\"growth\"></a>Growth <em>plan</em></h2>"
                       "<h3><a name=\"legacy\">Legacy</a> name</h3>"
                       "<h4 id=\"own\"><a id=\"inner\">Own id wins</a></h4>"
                       "<h5>No <b>anchor</b></h5>"
                       "<h6 id=\"\">Empty id</h6>"
                       "<p id=\"para\">Paragraph ids are not anchors.</p>"
                       "</main>";
    static const want_block want[] = {
        {1, "Plans", "plans"},
        {2, "Growth plan", "growth"},
        {3, "Legacy name", "legacy"},
        {4, "Own id wins", "own"},
        {5, "No anchor", NULL},
        {6, "Empty id", NULL},
        {0, "Paragraph ids are not anchors.", NULL},
    };

    cr_assert_eq(extract_str(html, KB_FMT_HTML, &d), KB_OK);
    expect_blocks("anchors", &d, want, N(want));
    kb_doc_free(&d);
}

Test(extract, html_metadata)
{
    static const struct {
        const char *label;
        const char *html;
        const char *title;
        const char *canonical; /* NULL: none */
        const char *lang;      /* NULL: none */
    } tc[] = {
        {"all three",
         "<html lang=\"en-GB\"><head><title> A  &amp;\n B </title>"
         "<link rel=\"canonical\" href=\"https://x.test/a\"></head><body><p>t</p></body></html>",
         "A & B", "https://x.test/a", "en-GB"},
        {"rel list and case", "<head><link rel=\"alternate CANONICAL\" href=\"/b\"><title>T</title></head><p>t</p>",
         "T", "/b", NULL},
        {"other rel ignored", "<head><link rel=\"stylesheet\" href=\"/s.css\"><title>T</title></head><p>t</p>", "T",
         NULL, NULL},
        {"first canonical wins", "<head><link rel=canonical href=/one><link rel=canonical href=/two></head><p>t</p>",
         "", "/one", NULL},
        {"empty href ignored", "<head><link rel=canonical href=\"  \"></head><p>t</p>", "", NULL, NULL},
        {"bad lang ignored", "<html lang=\"en; drop table\"><p>t</p></html>", "", NULL, NULL},
        {"svg title is not the page title", "<body><svg><title>Icon</title></svg><h1>Real</h1></body>", "Real", NULL,
         NULL},
        {"h1 preferred over earlier h2", "<body><h2>Second</h2><h1>First</h1></body>", "First", NULL, NULL},
    };

    for (size_t i = 0; i < N(tc); i++) {
        kb_doc d;
        cr_assert_eq(extract_str(tc[i].html, KB_FMT_HTML, &d), KB_OK, "[%s]", tc[i].label);
        if (tc[i].title[0] != '\0')
            cr_expect_str_eq(d.title, tc[i].title, "[%s] title", tc[i].label);
        if (tc[i].canonical == NULL)
            cr_expect_null(d.canonical_url, "[%s] canonical", tc[i].label);
        else if (d.canonical_url == NULL)
            cr_expect_fail("[%s] canonical missing", tc[i].label);
        else
            cr_expect_str_eq(d.canonical_url, tc[i].canonical, "[%s] canonical", tc[i].label);
        if (tc[i].lang == NULL)
            cr_expect_null(d.lang, "[%s] lang", tc[i].label);
        else if (d.lang == NULL)
            cr_expect_fail("[%s] lang missing", tc[i].label);
        else
            cr_expect_str_eq(d.lang, tc[i].lang, "[%s] lang", tc[i].label);
        kb_doc_free(&d);
    }
}

Test(extract, html_title_capped_without_splitting_characters)
{
    char html[4096];
    size_t o = (size_t)snprintf(html, sizeof html, "<title>");
    kb_doc d;

    for (int i = 0; i < 400; i++)
        o += (size_t)snprintf(html + o, sizeof html - o, "\xC3\xA9");
    snprintf(html + o, sizeof html - o, "</title><p>body</p>");
    cr_assert_eq(extract_str(html, KB_FMT_HTML, &d), KB_OK);
    cr_expect_lt(strlen(d.title), (size_t)KB_TITLE_MAX);
    cr_expect_geq(strlen(d.title), (size_t)KB_TITLE_MAX - 2);
    cr_expect(utf8_valid(d.title, strlen(d.title)));
    kb_doc_free(&d);
}

Test(extract, html_tables_lists_and_inline_spacing)
{
    kb_doc d;
    const char *html = "<main>"
                       "<table><caption>Prices</caption>"
                       "<tr><th></th><th>Free</th><th>Pro</th></tr>"
                       "<tr><th>Seats</th><td>3</td><td><p>20</p><p>(more on request)</p></td></tr>"
                       "<tr><td> </td><td></td></tr>"
                       "</table>"
                       "<ul><li>One <a href=/x>link</a></li><li>Two<ul><li>Nested</li></ul></li></ul>"
                       "<ol><li>First</li><li>Second</li></ol>"
                       "<ul><li><p>Para item</p><p>more</p></li><li><h4>Head item</h4>after</li><li></li></ul>"
                       "<ol start=\"5\"><li>Fifth</li></ol>"
                       "<dl><dt>Term</dt><dd>Definition</dd></dl>"
                       "<p>foo<strong>bar</strong> baz <em>qux</em>.</p>"
                       "<p>line<br>break<br/>again</p>"
                       "<div>Direct text<p>Inner paragraph</p>tail text</div>"
                       "<blockquote>Quoted</blockquote><pre>code   line\n  two</pre>"
                       "<table><tr><td><h3>Heading</h3> in a cell</td><td><ul><li>list</li></ul></td></tr></table>"
                       "</main>";
    static const want_block want[] = {
        {0, "Prices", NULL},
        {0, "Free | Pro", NULL},
        {0, "Seats | 3 | 20 (more on request)", NULL},
        {0, "- One link", NULL},
        {0, "- Two", NULL},
        {0, "- Nested", NULL},
        {0, "1. First", NULL},
        {0, "2. Second", NULL},
        {0, "- Para item", NULL},
        {0, "more", NULL},
        {4, "Head item", NULL},
        {0, "after", NULL},
        {0, "5. Fifth", NULL},
        {0, "Term", NULL},
        {0, "Definition", NULL},
        {0, "foobar baz qux.", NULL},
        {0, "line break again", NULL},
        {0, "Direct text", NULL},
        {0, "Inner paragraph", NULL},
        {0, "tail text", NULL},
        {0, "Quoted", NULL},
        {0, "code line two", NULL},
        {0, "Heading in a cell | list", NULL},
    };

    cr_assert_eq(extract_str(html, KB_FMT_HTML, &d), KB_OK);
    expect_blocks("tables and lists", &d, want, N(want));
    kb_doc_free(&d);
}

/* Nested divs: depth 200 is read in full; at 200000 libxml2's depth guard
 * (256) stops reading, and we neither crash nor lose what came before. */
static char *nested_page(size_t depth, size_t *len)
{
    size_t cap = depth * 11 + 64, o = 0;
    char *html = malloc(cap);

    cr_assert_not_null(html);
    o += (size_t)sprintf(html, "<p>before</p>");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(html + o, "<div>");
    o += (size_t)sprintf(html + o, "deep text");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(html + o, "</div>");
    o += (size_t)sprintf(html + o, "<p>after</p>");
    *len = o;
    return html;
}

Test(extract, html_deep_nesting)
{
    size_t len;
    char *html = nested_page(200, &len);
    kb_doc d;

    cr_assert_eq(extract(html, len, KB_FMT_HTML, NULL, &d), KB_OK);
    cr_expect_str_eq(all_text(&d), "before\ndeep text\nafter");
    kb_doc_free(&d);
    free(html);

    html = nested_page(200000, &len);
    cr_assert_eq(extract(html, len, KB_FMT_HTML, NULL, &d), KB_OK);
    cr_expect_str_eq(d.blocks[0].text, "before");
    kb_doc_free(&d);
    free(html);
}

/* ------------------------------------------------------------ charsets */

Test(extract, charsets_decoded_to_utf8)
{
    static const struct {
        const char *label;
        const char *data;
        size_t len;
        kb_format fmt;
        const char *charset;
        const char *want; /* substring of the text */
    } tc[] = {
        {"windows-1252 from HTTP",
         S_("<p>caf\xE9 \x80"
            "5 \x93q\x94 \x96 \x85</p>"),
         KB_FMT_HTML, "windows-1252",
         "caf\xC3\xA9 \xE2\x82\xAC"
         "5 \xE2\x80\x9Cq\xE2\x80\x9D \xE2\x80\x93 \xE2\x80\xA6"},
        {"latin1 label reads as windows-1252", S_("<p>M\xFCller \x80</p>"), KB_FMT_HTML, "ISO-8859-1",
         "M\xC3\xBCller \xE2\x82\xAC"},
        {"quoted label", S_("<p>\xE9t\xE9</p>"), KB_FMT_HTML, "\"latin1\"", "\xC3\xA9t\xC3\xA9"},
        {"undefined cp1252 byte replaced", S_("<p>a\x81z</p>"), KB_FMT_HTML, "cp1252", "a" REPL "z"},
        {"meta charset",
         S_("<meta charset=\"windows-1252\"><p>Gr\xFC\xDF"
            "e</p>"),
         KB_FMT_HTML, NULL,
         "Gr\xC3\xBC\xC3\x9F"
         "e"},
        {"meta http-equiv", S_("<meta http-equiv=Content-Type content='text/html; charset=iso-8859-1'><p>\xE0</p>"),
         KB_FMT_HTML, NULL, "\xC3\xA0"},
        {"HTTP charset beats meta", S_("<meta charset=windows-1252><p>\xC3\xA9</p>"), KB_FMT_HTML, "utf-8", "\xC3\xA9"},
        {"meta utf-16 read as utf-8", S_("<meta charset=utf-16><p>\xC3\xA9</p>"), KB_FMT_HTML, NULL, "\xC3\xA9"},
        {"iconv: iso-8859-15 euro",
         S_("<p>\xA4"
            "5</p>"),
         KB_FMT_HTML, "ISO-8859-15",
         "\xE2\x82\xAC"
         "5"},
        {"unknown label read as utf-8", S_("<p>\xC3\xA9</p>"), KB_FMT_HTML, "x-no-such-charset", "\xC3\xA9"},
        {"hostile label ignored", S_("<p>\xC3\xA9</p>"), KB_FMT_HTML, "utf-8//TRANSLIT", "\xC3\xA9"},
        {"utf-8 BOM", S_("\xEF\xBB\xBF<p>\xC3\xA9</p>"), KB_FMT_HTML, "windows-1252", "\xC3\xA9"},
        {"utf-16le BOM text", S_("\xFF\xFEH\0i\0 \0\xE9\0"), KB_FMT_TEXT, NULL, "Hi \xC3\xA9"},
        {"utf-16be BOM markdown", S_("\xFE\xFF\0#\0 \0T\0\n\0x"), KB_FMT_MARKDOWN, NULL, "x"},
        {"markdown windows-1252", S_("# T\n\nna\xEFve \x80"), KB_FMT_MARKDOWN, "windows-1252",
         "na\xC3\xAFve \xE2\x82\xAC"},
        {"text latin1", S_("Title\n\nS\xE3o Paulo"), KB_FMT_TEXT, "latin1", "S\xC3\xA3o Paulo"},
    };

    for (size_t i = 0; i < N(tc); i++) {
        kb_doc d;
        cr_assert_eq(extract(tc[i].data, tc[i].len, tc[i].fmt, tc[i].charset, &d), KB_OK, "[%s]", tc[i].label);
        cr_expect_neq(strstr(all_text(&d), tc[i].want), NULL, "[%s] want '%s' in:\n%s", tc[i].label, tc[i].want,
                      all_text(&d));
        kb_doc_free(&d);
    }
}

Test(extract, charset_from_meta_fixture)
{
    kb_doc d;

    cr_assert_eq(extract_file(FIXTURES "cp1252-meta.html", NULL, &d), KB_OK);
    cr_expect_str_eq(d.title, "Caf\xC3\xA9 Preise");
    cr_expect_eq(d.nblocks, 1);
    cr_expect_str_eq(d.blocks[0].text, "M\xC3\xBCller zahlt \xE2\x82\xAC"
                                       "20 f\xC3\xBCr \xE2\x80\x9CKaffee\xE2\x80\x9D "
                                       "\xE2\x80\x93 sch\xC3\xB6n.");
    kb_doc_free(&d);
}

Test(extract, invalid_utf8_replaced_never_passed_on)
{
    static const struct {
        const char *label;
        const char *data;
        size_t len;
        kb_format fmt;
    } tc[] = {
        {"html",
         S_("<title>T\xFF</title><h1 id=\"a\xC3\">H\xED\xA0\x80</h1><p>x\xC0\xAFy \xF4\x90\x80\x80 z\xE2\x82</p>"),
         KB_FMT_HTML},
        {"markdown", S_("# H\xFF\n\npara \xC0\xAF [l\xED\xA0\x80](u) `c\xFE`\n\n- item \xE2\x82"), KB_FMT_MARKDOWN},
        {"text", S_("T\xFF\n\nbody \xF0\x9F\x98\n\nmore \x80"), KB_FMT_TEXT},
    };

    for (size_t i = 0; i < N(tc); i++) {
        kb_doc d;
        cr_assert_eq(extract(tc[i].data, tc[i].len, tc[i].fmt, NULL, &d), KB_OK, "[%s]", tc[i].label);
        /* check_doc() already asserted utf8_valid on every string. */
        cr_expect_neq(strstr(all_text(&d), REPL), NULL, "[%s] U+FFFD expected in:\n%s", tc[i].label, all_text(&d));
        kb_doc_free(&d);
    }
}

/* -------------------------------------------------------------- errors */

Test(extract, empty_inputs)
{
    static const struct {
        const char *label;
        const char *data;
        kb_format fmt;
    } tc[] = {
        {"zero bytes html", "", KB_FMT_HTML},
        {"zero bytes text", "", KB_FMT_TEXT},
        {"whitespace text", " \n\t\r\n  ", KB_FMT_TEXT},
        {"only chrome",
         "<html><head><title>Only chrome</title><script>x()</script></head><body><header>Logo</header>"
         "<nav>Menu</nav><aside>Ad</aside><footer>Imprint</footer></body></html>",
         KB_FMT_HTML},
        {"hidden main", "<body><nav>Menu</nav><main hidden><p>secret</p></main></body>", KB_FMT_HTML},
        {"markup only", "<html><body><div><span></span><img src=x></div></body></html>", KB_FMT_HTML},
        {"front matter and comment only", "---\ntitle: X\n---\n<!-- nothing -->\n", KB_FMT_MARKDOWN},
        {"markdown rules", "---\n\n***\n", KB_FMT_MARKDOWN},
    };

    for (size_t i = 0; i < N(tc); i++) {
        kb_doc d;
        cr_expect_eq(extract_str(tc[i].data, tc[i].fmt, &d), KB_EEMPTY, "[%s]", tc[i].label);
    }
}

Test(extract, binary_refused)
{
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 0x0D, 'I', 'H', 'D', 'R'};
    static const char ctl[] = "a\x01\x02\x03\x04\x05\x06\x07\x08\x0E\x0F\x10\x11\x12\x13\x14";
    static const char pdf[] = "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj";
    kb_doc d;

    cr_expect_eq(extract((const char *)png, sizeof png, KB_FMT_HTML, NULL, &d), KB_EBINARY);
    cr_expect_eq(extract(ctl, sizeof ctl - 1, KB_FMT_TEXT, NULL, &d), KB_EBINARY);
    cr_expect_eq(extract(pdf, sizeof pdf - 1, KB_FMT_TEXT, NULL, &d), KB_EBINARY);
    cr_expect_eq(extract("a\0b", 3, KB_FMT_MARKDOWN, "utf-8", &d), KB_EBINARY);
    cr_expect_eq(extract("\xFF\xFE"
                         "a\0\x01\0\x02\0\x03\0",
                         10, KB_FMT_TEXT, NULL, &d),
                 KB_EBINARY, "UTF-16 is judged after decoding");
}

Test(extract, looks_binary_cases)
{
    static const struct {
        const char *label;
        const char *data;
        size_t len;
        int binary;
    } tc[] = {
        {"empty", S_(""), 0},
        {"text", S_("Hello, world.\n\tIndented\r\n\fPage two\v"), 0},
        {"latin1 bytes", S_("caf\xE9 \xFC\xDF"), 0},
        {"ansi escape", S_("\x1B[1mbold\x1B[0m text"), 0},
        {"one control in a long text", S_("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz\x01"), 0},
        {"NUL", S_("abc\0def"), 1},
        {"many controls", S_("\x01\x02\x03 abc"), 1},
        {"pdf", S_("%PDF-1.4"), 1},
    };

    for (size_t i = 0; i < N(tc); i++)
        cr_expect_eq(kb_looks_binary(tc[i].data, tc[i].len), tc[i].binary, "[%s]", tc[i].label);
}

Test(extract, huge_page_refused)
{
    size_t len = (size_t)KB_DOC_MAX_BYTES + 1;
    char *big = malloc(len);
    char err[128];
    kb_doc d;

    cr_assert_not_null(big);
    memset(big, 'a', len);
    cr_expect_eq(kb_extract(big, len, KB_FMT_TEXT, NULL, &d, err, sizeof err), KB_ETOOBIG);
    cr_expect_neq(strstr(err, "limit"), NULL, "reason: %s", err);
    cr_expect_eq(d.nblocks, 0);
    /* Exactly at the limit is accepted. */
    memset(big, ' ', 16);
    big[len - 2] = '\n';
    cr_expect_eq(kb_extract(big, len - 1, KB_FMT_TEXT, NULL, &d, err, sizeof err), KB_OK, "%s", err);
    kb_doc_free(&d);
    free(big);
}

/* A generous timeout, not a timing: it catches accidental quadratic work
 * (which would take minutes here), not slowness. */
Test(extract, five_megabyte_page_parses, .timeout = 120)
{
    static const char para[] = "<p>Quorvia helps B2B teams understand accounts &amp; users. "
                               "Pricing starts at &euro;39 per month, with a 14-day trial.</p>\n";
    size_t target = 5u << 20, plen = sizeof para - 1, n = 0, o;
    char *html = malloc(target + 256);
    kb_doc d;

    cr_assert_not_null(html);
    o = (size_t)sprintf(html, "<html><head><title>Big</title></head><body><main><h1>Big page</h1>");
    while (o + plen + 32 < target) {
        memcpy(html + o, para, plen);
        o += plen;
        n++;
    }
    o += (size_t)sprintf(html + o, "</main></body></html>");
    cr_assert_eq(extract(html, o, KB_FMT_HTML, NULL, &d), KB_OK);
    cr_expect_eq(d.nblocks, n + 1);
    cr_expect_str_eq(d.blocks[n].text, "Quorvia helps B2B teams understand accounts & users. Pricing starts at "
                                       "\xE2\x82\xAC"
                                       "39 per month, with a 14-day trial.");
    kb_doc_free(&d);
    free(html);
}

Test(extract, hostile_markdown_stays_linear, .timeout = 120)
{
    size_t len = 4u << 20;
    char *md = malloc(len);
    kb_doc d;

    cr_assert_not_null(md);
    /* Unmatched brackets, backticks and angle brackets in one paragraph. */
    for (size_t i = 0; i < len; i++)
        md[i] = "[`<(*_"[i % 6];
    cr_assert_eq(extract(md, len, KB_FMT_MARKDOWN, NULL, &d), KB_OK);
    kb_doc_free(&d);
    free(md);
}

/* ------------------------------------------------------------ Markdown */

Test(extract, markdown_sample_fixture)
{
    static const want_block want[] = {
        {1, "Getting Started", "getting-started"},
        {0,
         "Welcome to Quorvia, the analytics platform. Read the pricing page and the architecture diagram "
         "before you start. Identifiers like user_8812 keep their underscores, inline <code> keeps its text "
         "and 5 * 3 stays arithmetic. Entities: \xE2\x82\xAC"
         "10 & more \xE2\x80\x94 done.",
         NULL},
        {2, "Plans & Pricing", "plans--pricing"},
        {0, "- Free: 3 seats", NULL},
        {0, "- Starter: details", NULL},
        {0, "1. First step", NULL},
        {0, "2. Second step", NULL},
        {0, "Plan | Price | Notes", NULL},
        {0,
         "Free | \xE2\x82\xAC"
         "0 | a | b",
         NULL},
        {0,
         "Growth | \xE2\x82\xAC"
         "299",
         NULL},
        {0, "const answer = 42; // code kept", NULL},
        {2, "Plans & Pricing", "plans--pricing-1"},
        {1, "Setext Heading Level One", "setext-heading-level-one"},
        {2, "Setext level two", "setext-level-two"},
        {3,
         "\xC3\x9Cn\xC3\xAF"
         "code Heading \xE2\x80\x94 with Punctuation!",
         "\xC3\xBCn\xC3\xAF"
         "code-heading--with-punctuation"},
        {0, "Quoted text stays on one paragraph.", NULL},
        {0, "Last paragraph with a tag and inline html.", NULL},
    };
    kb_doc d;

    cr_assert_eq(extract_file(FIXTURES "sample.md", NULL, &d), KB_OK);
    expect_blocks("sample.md", &d, want, N(want));
    cr_expect_str_eq(d.title, "Sample: Front Matter Title");
    cr_expect_null(strstr(all_text(&d), "COMMENTWORD"));
    cr_expect_null(strstr(all_text(&d), "layout"), "front matter must not leak");
    cr_expect_null(d.canonical_url);
    kb_doc_free(&d);
}

Test(extract, markdown_slugs)
{
    static const struct {
        const char *heading;
        const char *slug;
    } tc[] = {
        {"Hello World", "hello-world"},
        {"Diversity & Inclusion", "diversity--inclusion"},
        {"API v2.0 (beta)", "api-v20-beta"},
        {"snake_case and kebab-case", "snake_case-and-kebab-case"},
        {"\xC3\x9C"
         "ber uns",
         "\xC3\xBC"
         "ber-uns"},
        {"\xC3\x87"
         "a \xE2\x80\x94 va?",
         "\xC3\xA7"
         "a--va"},
        {"\xCE\x91\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1", "\xCE\xB1\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1"},
        {"\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", "\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0"},
        {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x80\x82", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"},
        {"Price: \xE2\x82\xAC"
         "10 \xF0\x9F\x9A\x80",
         "price-10-"},
        {"**Bold** and `code`", "bold-and-code"},
        {"[Link](https://x.test) text", "link-text"},
    };

    for (size_t i = 0; i < N(tc); i++) {
        char md[256];
        kb_doc d;

        snprintf(md, sizeof md, "## %s\n\ntext\n", tc[i].heading);
        cr_assert_eq(extract_str(md, KB_FMT_MARKDOWN, &d), KB_OK, "[%s]", tc[i].heading);
        cr_assert_not_null(d.blocks[0].anchor, "[%s] no anchor", tc[i].heading);
        cr_expect_str_eq(d.blocks[0].anchor, tc[i].slug, "[%s]", tc[i].heading);
        kb_doc_free(&d);
    }
}

Test(extract, markdown_repeated_slugs_follow_github)
{
    static const want_block want[] = {
        {2, "FAQ", "faq"}, {2, "FAQ", "faq-1"}, {2, "FAQ 1", "faq-1-1"}, {2, "FAQ", "faq-2"}, {2, "!!!", NULL},
    };
    kb_doc d;

    cr_assert_eq(extract_str("## FAQ\n## FAQ\n## FAQ 1\n## FAQ\n## !!!\n", KB_FMT_MARKDOWN, &d), KB_OK);
    expect_blocks("repeats", &d, want, N(want));
    kb_doc_free(&d);
}

Test(extract, markdown_inline_cases)
{
    static const struct {
        const char *label;
        const char *md;
        const char *text;
    } tc[] = {
        {"link", "see [the docs](https://x.test/a_(b)) now", "see the docs now"},
        {"link with title", "[a](u \"t\")", "a"},
        {"reference link", "[text][ref] and [more][]", "text and more"},
        {"image alt", "![a *nice* chart](c.png) below", "a nice chart below"},
        {"linked image", "[![logo](l.png)](https://x.test)", "logo"},
        {"emphasis", "*a* **b** ***c*** _d_ __e__ ~~f~~", "a b c d e f"},
        {"intraword underscore kept", "call do_this_now", "call do_this_now"},
        {"intraword star removed", "un*frigging*believable", "unfriggingbelievable"},
        {"lone star kept", "2 * 3 = 6", "2 * 3 = 6"},
        {"single tilde kept", "~5 minutes", "~5 minutes"},
        {"code span literal", "`*not emphasis*` and ``a ` b``", "*not emphasis* and a ` b"},
        {"unclosed backtick", "a `b", "a `b"},
        {"escapes", "\\*literal\\* \\[x\\] \\_y\\_", "*literal* [x] _y_"},
        {"autolinks", "<https://x.test/p> or <hi@x.test>", "https://x.test/p or hi@x.test"},
        {"inline html dropped", "a <span class=\"k\">b</span> c<br/>d", "a b c d"},
        {"inline comment dropped", "a <!-- hidden --> b", "a b"},
        {"comparisons kept", "a < b and c > d", "a < b and c > d"},
        {"entities", "&copy; &#169; &#xA9; &nosuch; &#0;", "\xC2\xA9 \xC2\xA9 \xC2\xA9 &nosuch; " REPL},
        {"hard breaks", "line one  \nline two\\\nline three", "line one line two line three"},
        {"unmatched bracket", "[not a link and (paren)", "[not a link and (paren)"},
    };

    for (size_t i = 0; i < N(tc); i++) {
        kb_doc d;
        cr_assert_eq(extract_str(tc[i].md, KB_FMT_MARKDOWN, &d), KB_OK, "[%s]", tc[i].label);
        cr_expect_eq(d.nblocks, 1, "[%s] blocks:\n%s", tc[i].label, all_text(&d));
        cr_expect_str_eq(d.blocks[0].text, tc[i].text, "[%s]", tc[i].label);
        kb_doc_free(&d);
    }
}

Test(extract, markdown_blocks)
{
    static const char md[] = "Intro line one\nline two\n"
                             "# Title #\n"
                             "   ## Indented heading\n"
                             "#NoSpace is text\n"
                             "####### seven hashes is text\n"
                             "\n"
                             "* star item\n  continued\n+ plus item\n"
                             "\n"
                             "~~~\nfenced ~~~ tilde\n  indented\n~~~~\n"
                             "```\nunclosed fence to the end\n";
    static const want_block want[] = {
        {0, "Intro line one line two", NULL},        {1, "Title", "title"},
        {2, "Indented heading", "indented-heading"}, {0, "#NoSpace is text ####### seven hashes is text", NULL},
        {0, "- star item continued", NULL},          {0, "- plus item", NULL},
        {0, "fenced ~~~ tilde indented", NULL},      {0, "unclosed fence to the end", NULL},
    };
    kb_doc d;

    cr_assert_eq(extract_str(md, KB_FMT_MARKDOWN, &d), KB_OK);
    expect_blocks("md blocks", &d, want, N(want));
    cr_expect_str_eq(d.title, "Title");
    kb_doc_free(&d);
}

Test(extract, markdown_title_rules)
{
    static const struct {
        const char *label;
        const char *md;
        const char *title;
    } tc[] = {
        {"front matter wins", "---\ntitle: 'FM'\n---\n# H1\n", "FM"},
        {"first h1", "## Two\n\n# One\n\n# Other\n", "One"},
        {"first heading when no h1", "text\n\n### Three\n", "Three"},
        {"none", "just text\n", ""},
        {"unclosed front matter is content", "---\ntitle: X\nno end\n", ""},
        {"crlf line ends", "---\r\ntitle: CR\r\n---\r\n# H\r\n\r\nbody\r\n", "CR"},
    };

    for (size_t i = 0; i < N(tc); i++) {
        kb_doc d;
        cr_assert_eq(extract_str(tc[i].md, KB_FMT_MARKDOWN, &d), KB_OK, "[%s]", tc[i].label);
        cr_expect_str_eq(d.title, tc[i].title, "[%s]", tc[i].label);
        kb_doc_free(&d);
    }
}

/* ---------------------------------------------------------- plain text */

Test(extract, text_paragraphs_headings_and_title)
{
    static const char txt[] = "\n\n  MY DOCUMENT  \n=============\n\nFirst paragraph\nwraps here.\n\n"
                              "CONTACT\n\nPhone: 123\nEmail: a@b.test\n\n1. SECTION ONE\n--------------\n"
                              "Body of section one.\n  - bullet a\n  - bullet b\n    continues\n\n"
                              "NOT A HEADING.\n\n*****\nAfter a rule.\n";
    static const want_block want[] = {
        {1, "MY DOCUMENT", NULL},    {0, "First paragraph wraps here.", NULL},
        {2, "CONTACT", NULL},        {0, "Phone: 123 Email: a@b.test", NULL},
        {2, "1. SECTION ONE", NULL}, {0, "Body of section one.", NULL},
        {0, "- bullet a", NULL},     {0, "- bullet b continues", NULL},
        {0, "NOT A HEADING.", NULL}, {0, "After a rule.", NULL},
    };
    kb_doc d;

    cr_assert_eq(extract_str(txt, KB_FMT_TEXT, &d), KB_OK);
    expect_blocks("text", &d, want, N(want));
    cr_expect_str_eq(d.title, "MY DOCUMENT");
    cr_expect_null(d.canonical_url);
    cr_expect_null(d.lang);
    kb_doc_free(&d);
}

Test(extract, text_title_is_first_line)
{
    kb_doc d;

    cr_assert_eq(extract_str("Plain title line\nsecond line\n\nbody", KB_FMT_TEXT, &d), KB_OK);
    cr_expect_str_eq(d.title, "Plain title line");
    cr_expect_str_eq(d.blocks[0].text, "Plain title line second line");
    kb_doc_free(&d);
}

/* ------------------------------------------------------------- formats */

Test(extract, format_from_name)
{
    static const struct {
        const char *name;
        const char *ctype;
        kb_format fmt;
    } tc[] = {
        {"kb/pricing/plans.html", NULL, KB_FMT_HTML},
        {"page.HTM", NULL, KB_FMT_HTML},
        {"docs/readme.md", NULL, KB_FMT_MARKDOWN},
        {"notes.markdown", NULL, KB_FMT_MARKDOWN},
        {"legal/imprint.txt", NULL, KB_FMT_TEXT},
        {"https://x.test/pricing", NULL, KB_FMT_HTML},
        {"https://x.test/", NULL, KB_FMT_HTML},
        {"https://x.test/doc.md?raw=1#top", NULL, KB_FMT_MARKDOWN},
        {"https://x.test/v1.2/page", NULL, KB_FMT_HTML},
        {"https://x.test", NULL, KB_FMT_HTML},
        {"https://x.test/file.txt", NULL, KB_FMT_TEXT},
        {"README", NULL, KB_FMT_TEXT},
        {"archive.tar.gz", NULL, KB_FMT_TEXT},
        {"https://x.test/api", "text/html; charset=utf-8", KB_FMT_HTML},
        {"https://x.test/a.txt", " Text/HTML ", KB_FMT_HTML},
        {"https://x.test/x.md", "text/plain", KB_FMT_MARKDOWN},
        {"https://x.test/x", "text/plain", KB_FMT_TEXT},
        {"x", "text/markdown; variant=GFM", KB_FMT_MARKDOWN},
        {"x.html", "application/octet-stream", KB_FMT_HTML},
        {NULL, "application/xhtml+xml", KB_FMT_HTML},
        {NULL, NULL, KB_FMT_TEXT},
    };

    for (size_t i = 0; i < N(tc); i++)
        cr_expect_eq(kb_format_from_name(tc[i].name, tc[i].ctype), tc[i].fmt, "[%s | %s]",
                     tc[i].name ? tc[i].name : "NULL", tc[i].ctype ? tc[i].ctype : "NULL");
}

Test(extract, status_names_and_free_is_safe)
{
    kb_doc d;

    cr_expect_str_eq(kb_status_name(KB_OK), "ok");
    cr_expect_str_eq(kb_status_name(KB_ETOOBIG), "too big");
    cr_expect_str_eq(kb_status_name((kb_status)99), "unknown");
    memset(&d, 0, sizeof d);
    kb_doc_free(&d);
    kb_doc_free(NULL);
    cr_assert_eq(extract_str("<p>x</p>", KB_FMT_HTML, &d), KB_OK);
    kb_doc_free(&d);
    cr_expect_null(d.blocks, "kb_doc_free zeroes the doc");
    kb_doc_free(&d);
}

/* ------------------------------------------------------------ kb/ site */

typedef struct {
    char path[512];
} kb_path;

static size_t collect_kb(const char *dir, kb_path *out, size_t n, size_t max)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    cr_assert_not_null(d, "cannot open %s (run the tests from the repository root)", dir);
    while ((e = readdir(d)) != NULL) {
        char p[512];
        struct stat st;
        const char *dot;

        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        cr_assert_eq(stat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            n = collect_kb(p, out, n, max);
            continue;
        }
        dot = strrchr(e->d_name, '.');
        if (dot == NULL || (strcmp(dot, ".md") != 0 && strcmp(dot, ".html") != 0 && strcmp(dot, ".txt") != 0))
            continue;
        cr_assert_lt(n, max);
        snprintf(out[n++].path, sizeof out[0].path, "%s", p);
    }
    closedir(d);
    return n;
}

Test(extract, every_kb_page_extracts_with_a_title)
{
    static kb_path paths[256];
    size_t n = collect_kb("kb", paths, 0, N(paths));
    size_t per_fmt[3] = {0, 0, 0};

    cr_assert_geq(n, 30, "expected the whole sample site, found %zu pages", n);
    for (size_t i = 0; i < n; i++) {
        kb_doc d;
        kb_format fmt = kb_format_from_name(paths[i].path, NULL);

        cr_assert_eq(extract_file(paths[i].path, NULL, &d), KB_OK, "%s", paths[i].path);
        cr_expect_gt(strlen(d.title), 0, "%s: empty title", paths[i].path);
        cr_expect_geq(d.nblocks, 3, "%s: only %zu blocks", paths[i].path, d.nblocks);
        per_fmt[fmt]++;
        kb_doc_free(&d);
    }
    cr_expect_gt(per_fmt[KB_FMT_HTML], 0);
    cr_expect_gt(per_fmt[KB_FMT_MARKDOWN], 0);
    cr_expect_gt(per_fmt[KB_FMT_TEXT], 0);
}

/* Words that the kb HTML pages carry only in their chrome (nav, header,
 * footer, aside, cookie banners, hidden elements), compared ignoring case
 * ("Login" excepted: the support page's content says "login problems");
 * and, per page, more chrome and phrases from the main content. */
static const struct {
    const char *word;
    int any_case;
} kb_chrome_words[] = {
    {"Login", 0}, {"subscribe", 1}, {"blog", 1}, {"imprint", 1}, {"newsletter", 1}, {"cookie", 1},
};

static const char *find_word(const char *hay, const char *word, int any_case)
{
    return any_case ? strcasestr(hay, word) : strstr(hay, word);
}

static const struct {
    const char *path;
    const char *gone[3]; /* page-specific chrome */
    const char *kept[3]; /* main content */
} kb_html[] = {
    {"kb/company/about.html",
     {"Variant B", "Book a demo", "Growth Letter"},
     {"founded in 2017 in Berlin by Lena Hartmann and Tobias Reuter.",
      "Berlin (headquarters) | Schlesische Stra\xC3\x9F"
      "e 27, 10997 Berlin, Germany",
      "Jonas M\xC3\xBCller \xE2\x80\x94 VP Sales"}},
    {"kb/company/careers.html",
     {"ad blocker", "re hiring!", "Job alerts"},
     {"\xE2\x82\xAC"
      "1,000 learning budget",
      "Senior Backend Engineer (Go, ClickHouse) | Berlin, Lisbon or remote (EU) | "
      "\xE2\x82\xAC"
      "80,000\xE2\x80\x93\xE2\x82\xAC"
      "98,000",
      "- Team breakfast (Fr\xC3\xBChst\xC3\xBC"
      "ck) every Tuesday in Berlin and Lisbon."}},
    {"kb/integrations/index.html",
     {"Filter integrations", "Book a demo", "Stay in the loop"},
     {"Slack | Notifications | \xE2\x9C\x93 | \xE2\x9C\x93 | \xE2\x9C\x93 | \xE2\x9C\x93",
      "Databricks is available on Enterprise.", "Datenwerk Consulting in M\xC3\xBCnchen"}},
    {"kb/pricing/plans.html",
     {"eBook", "Start free trial", "Accept all"},
     {"Price, billed monthly | \xE2\x82\xAC"
      "0 | \xE2\x82\xAC"
      "49 / month | \xE2\x82\xAC"
      "299 / month | \xE2\x80\x94",
      "Growth costs \xE2\x82\xAC"
      "299 per month billed monthly",
      "- Extra events on Growth: \xE2\x82\xAC"
      "6 per"}},
    {"kb/security/overview.html",
     {"Trust Center", "Subprocessors", "consent"},
     {"ISO/IEC 27001 certified since 2021", "SOC 2 Type II | Report since 2024, renewed yearly",
      "within 72 hours at the latest"}},
    {"kb/support/contact-support.html",
     {"Open chat", "Got it", "Quorvia Help Center"},
     {"+49 30 5557 2141", "Friday | 09:00 \xE2\x80\x93 17:00",
      "1. Check status.quorvia.example for ongoing incidents."}},
};

Test(extract, kb_html_pages_lose_chrome_keep_content)
{
    for (size_t i = 0; i < N(kb_html); i++) {
        size_t len;
        char *raw = read_file(kb_html[i].path, &len);
        const char *text;
        kb_doc d;

        cr_assert_eq(extract(raw, len, KB_FMT_HTML, NULL, &d), KB_OK, "%s", kb_html[i].path);
        text = all_text(&d);
        for (size_t k = 0; k < N(kb_chrome_words); k++) {
            const char *w = kb_chrome_words[k].word;
            int any = kb_chrome_words[k].any_case;

            cr_expect_neq(find_word(raw, w, any), NULL, "%s: fixture lost '%s'", kb_html[i].path, w);
            cr_expect_null(find_word(text, w, any), "%s: chrome '%s' leaked", kb_html[i].path, w);
        }
        for (size_t k = 0; k < 3; k++) {
            cr_expect_neq(strstr(raw, kb_html[i].gone[k]), NULL, "%s: fixture lost '%s'", kb_html[i].path,
                          kb_html[i].gone[k]);
            cr_expect_null(strstr(text, kb_html[i].gone[k]), "%s: '%s' leaked", kb_html[i].path, kb_html[i].gone[k]);
            cr_expect_neq(strstr(text, kb_html[i].kept[k]), NULL, "%s: missing '%s'", kb_html[i].path,
                          kb_html[i].kept[k]);
        }
        cr_expect_not_null(d.canonical_url, "%s: canonical", kb_html[i].path);
        cr_expect_str_eq(d.lang, "en", "%s: lang", kb_html[i].path);
        cr_expect_eq(d.blocks[0].level, 1, "%s: starts with its h1", kb_html[i].path);
        kb_doc_free(&d);
        free(raw);
    }
}
