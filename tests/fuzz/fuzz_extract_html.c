/* fuzz_extract_html.c: the HTML page extractor (kb_extract with
 * KB_FMT_HTML: svc-indexer/extract.c, extract_charset.c, extract_html.c,
 * extract_text.c), on libxml2's recovering parser as the indexer runs it.
 *
 * Input: the page's bytes (no HTTP charset: the BOM and <meta charset>
 * decide, as for a page served without one). Checked: fuzz_extract.h. */
#include <libxml/parser.h>

#include "fuzz_extract.h"

static void fuzz_xml_quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, fuzz_xml_quiet);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kb_doc doc;
    char err[256] = "";
    kb_status st = kb_extract((const char *)data, size, KB_FMT_HTML, NULL, &doc, err, sizeof(err));
    fuzz_check_doc(st, &doc, err);
    kb_doc_free(&doc);
    return 0;
}
