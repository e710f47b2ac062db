/*
 * extract.h - turn one web page (HTML, Markdown or plain text) into clean,
 * structured text: a title, some metadata and a list of blocks (headings
 * and paragraphs) ready to be chunked (chunk.h).
 *
 * Owns: the kb_doc it fills, which belongs to the caller from then on and
 * is released with kb_doc_free().  The input bytes stay the caller's and
 * are never modified.
 *
 * Input is untrusted (it comes from crawled sites), so:
 *   - inputs above KB_DOC_MAX_BYTES are refused (KB_ETOOBIG) before any
 *     work, which bounds every buffer below (text, blocks, libxml2 tree);
 *   - bytes are decoded to UTF-8 first (HTTP charset, else a BOM, else
 *     <meta charset> for HTML, else UTF-8); ill-formed bytes become U+FFFD,
 *     so every string in a kb_doc is well-formed UTF-8 without NUL or
 *     control characters;
 *   - nothing is fetched from the network (HTML_PARSE_NONET) and the HTML
 *     tree is walked iteratively; libxml2 keeps its nesting guard (it
 *     stops reading at depth 256, so content after such nesting is lost;
 *     real pages stay far below it).
 *
 * Thread-safety: kb_extract() keeps no state of its own and may run in
 * several threads at once, provided the process called xmlInitParser()
 * once (from one thread) before the first concurrent use, as libxml2
 * requires.  kb_extract() calls it too, which is enough single-threaded.
 */
#ifndef KB_EXTRACT_H
#define KB_EXTRACT_H

#include <stddef.h>

#define KB_TITLE_MAX 512            /* title fits a char[KB_TITLE_MAX] */
#define KB_URL_MAX 2048             /* longer canonical URLs are ignored */
#define KB_LANG_MAX 35              /* longest BCP 47 tag kept */
#define KB_DOC_MAX_BYTES (8u << 20) /* larger inputs: KB_ETOOBIG */
#define KB_BINARY_SNIFF 8192        /* bytes looked at by kb_looks_binary */

typedef enum {
    KB_OK = 0,
    KB_EEMPTY = 1,  /* no text at all (after dropping page chrome) */
    KB_ETOOBIG = 2, /* len > KB_DOC_MAX_BYTES */
    KB_EBINARY = 3, /* kb_looks_binary() said so */
    KB_EPARSE = 4,  /* libxml2 gave no tree */
    KB_ENOMEM = 5
} kb_status;

typedef struct kb_block {
    int level;    /* 0 = paragraph, list item or table row; 1..6 = heading */
    char *text;   /* non-empty; whitespace collapsed to single spaces,
                     trimmed, entities decoded, bad bytes now U+FFFD */
    char *anchor; /* headings only: HTML id (or the id/name of an inner
                     <a>), or the GitHub-style slug of a Markdown heading;
                     NULL otherwise */
} kb_block;

typedef struct kb_doc {
    char *title;         /* never NULL; "" when none, < KB_TITLE_MAX bytes */
    char *canonical_url; /* <link rel="canonical" href>, else NULL */
    char *lang;          /* <html lang>, else NULL */
    kb_block *blocks;    /* in document order */
    size_t nblocks;
} kb_doc;

typedef enum { KB_FMT_HTML, KB_FMT_MARKDOWN, KB_FMT_TEXT } kb_format;

/*
 * Guess the format from a Content-Type (may be NULL; parameters such as
 * "; charset=..." are ignored) and else from the file or URL extension
 * (query and fragment ignored).  text/plain with a .md name is Markdown;
 * a URL without an extension ("https://x/pricing") is HTML; anything
 * unknown is plain text.
 */
kb_format kb_format_from_name(const char *path_or_url, const char *content_type);

/*
 * Parse data[0..len) (any bytes) as fmt into *out.  charset is the one from
 * the HTTP Content-Type, or NULL.  UTF-8 and US-ASCII are checked and
 * repaired in place; ISO-8859-1/latin1 and windows-1252 (the latin1 labels
 * decode as windows-1252, as browsers do), UTF-16 and every other label go
 * through iconv(3), and an unknown label falls back to UTF-8.  A UTF-8 or UTF-16 byte order mark
 * wins over any label.
 *
 * HTML: libxml2's recovering parser, then the tree is walked.  Dropped:
 * script, style, noscript, template, svg, nav, header (unless inside main,
 * article or section, where it holds the page's own heading), footer,
 * aside, form and form controls, button, iframe, dialog and media
 * fallbacks, ARIA landmarks for the same chrome (role=navigation, banner,
 * contentinfo, complementary, search, dialog), and hidden elements (hidden
 * attribute, aria-hidden="true", inline display:none or visibility:hidden).
 * When the page has a <main> (or role="main") only it is read, else when it
 * has <article>s only they are.  List items start with "- " (or "N. " in
 * <ol>); a table row is one block "cell | cell" (empty cells dropped);
 * <br> is a space.  Title: <title>, else the first h1, else the first
 * heading.
 *
 * Markdown: ATX and setext headings (anchor = GitHub slug, "-1", "-2"...
 * added to repeats), paragraphs, list items, GFM table rows, fenced code
 * (kept as text), block quotes; links and images become their text/alt,
 * emphasis markers and code backticks are removed, entities decoded, HTML
 * tags and comments dropped, YAML front matter skipped.  Title: front
 * matter "title:", else the first "# " heading, else the first heading.
 *
 * Text: paragraphs split on blank lines; a line underlined with ===/---
 * becomes a heading (level 1/2) and the underline is dropped, as does a
 * one-line paragraph in capitals ("CONTACT", level 2); bullet lines start
 * new blocks.  Title: the first non-empty line.
 *
 * Returns KB_OK, or an error with *out zeroed and a one-line reason in
 * err[0..errlen) (err may be NULL when errlen is 0).  On KB_OK, err is "".
 */
kb_status kb_extract(const char *data, size_t len, kb_format fmt, const char *charset, kb_doc *out, char *err,
                     size_t errlen);

/* Free everything in doc and zero it; a zeroed doc is fine, NULL too. */
void kb_doc_free(kb_doc *doc);

/*
 * 1 when the first KB_BINARY_SNIFF bytes hold a NUL byte, start like a PDF
 * ("%PDF-"), or more than 1 in 32 bytes are control bytes other than
 * \t \n \v \f \r and ESC; 0 otherwise.  Text never has NULs and hardly ever
 * control bytes; compressed or image data has plenty of both.
 */
int kb_looks_binary(const char *data, size_t len);

/* Short English name of a status ("ok", "empty", "too big", ...). */
const char *kb_status_name(kb_status st);

#endif /* KB_EXTRACT_H */
