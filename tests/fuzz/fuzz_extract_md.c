/* fuzz_extract_md.c: the Markdown page extractor (kb_extract with
 * KB_FMT_MARKDOWN: svc-indexer/extract.c, extract_charset.c,
 * extract_md.c, extract_slug.c, extract_text.c).
 *
 * Input: the file's bytes. Checked: fuzz_extract.h, and every heading
 * has its GitHub-style anchor. */
#include "fuzz_extract.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kb_doc doc;
    char err[256] = "";
    kb_status st = kb_extract((const char *)data, size, KB_FMT_MARKDOWN, NULL, &doc, err, sizeof(err));
    fuzz_check_doc(st, &doc, err);
    kb_doc_free(&doc);
    return 0;
}
