/*
 * test_sources_url.c - unit tests for the citation URLs of folder pages
 * (svc-indexer/sources.c, src_folder_url): the path as the site serves it,
 * index pages as their folder, and pretty URLs on request.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "sources.h"

typedef struct url_case {
    const char *rel;
    src_url_style style;
    const char *want;
} url_case;

static const url_case url_cases[] = {
    {"guide/intro.html", SRC_URL_PATH, "https://docs.example/guide/intro.html"},
    {"guide/index.html", SRC_URL_PATH, "https://docs.example/guide/"},
    {"index.html", SRC_URL_PATH, "https://docs.example/"},
    {"INDEX.HTM", SRC_URL_PATH, "https://docs.example/"},
    {"library/file-fdw.html", SRC_URL_PATH, "https://docs.example/library/file-fdw.html"},
    {"notes.md", SRC_URL_PATH, "https://docs.example/notes.md"},
    {"guide/index.md", SRC_URL_PATH, "https://docs.example/guide/index.md"},
    {"guide/intro.html", SRC_URL_PATH, "https://docs.example/guide/intro.html"},
    {"guide/intro.html", SRC_URL_PRETTY, "https://docs.example/guide/intro"},
    {"guide/index.md", SRC_URL_PRETTY, "https://docs.example/guide/"},
    {"index.html", SRC_URL_PRETTY, "https://docs.example/"},
    {"v1.2/release-notes.html", SRC_URL_PRETTY, "https://docs.example/v1.2/release-notes"},
    {"v1.2/README", SRC_URL_PRETTY, "https://docs.example/v1.2/README"},
    {".hidden", SRC_URL_PRETTY, "https://docs.example/.hidden"},
};

Test(sources_url, folder_pages_map_to_served_urls)
{
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
        char out[256];
        cr_assert_eq(src_folder_url("https://docs.example", url_cases[i].rel, url_cases[i].style, out, sizeof(out)), 0);
        cr_assert_str_eq(out, url_cases[i].want, "%s (%s)", url_cases[i].rel,
                         url_cases[i].style == SRC_URL_PATH ? "path" : "pretty");
    }
}

Test(sources_url, a_url_that_does_not_fit_is_an_error)
{
    char out[24];
    cr_assert_eq(src_folder_url("https://docs.example", "guide/intro.html", SRC_URL_PATH, out, sizeof(out)), -1);
}
