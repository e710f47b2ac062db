/* embed_config.h: the embedder's settings (EMBEDDING_*, OPENAI_*), in one
 * place for the two programs that embed: svc-indexer (chunks) and
 * svc-retrieval (questions) must embed alike, so they read the same rows.
 *
 * EMBED_CONFIG_VARS expands to cfg_var initializers for a program's table;
 * embed_config_opts reads them back. Owns: nothing; the returned options
 * point into the cfg, which must outlive them. */
#ifndef CHAT_EMBED_CONFIG_H
#define CHAT_EMBED_CONFIG_H

#include "config.h"
#include "embed.h"

#define EMBED_CONFIG_VARS                                                                                              \
    {.name = "EMBEDDING_PROVIDER",                                                                                     \
     .type = CFG_ENUM,                                                                                                 \
     .def = "local",                                                                                                   \
     .choices = "local|openai",                                                                                        \
     .help = "how text is embedded; svc-indexer and svc-retrieval must use the same"},                                 \
        {.name = "EMBEDDING_MODEL",                                                                                    \
         .type = CFG_STR,                                                                                              \
         .help = "embedding model; default " EMBED_LOCAL_MODEL                                                         \
                 " (local, learned from the knowledge base) or " EMBED_OPENAI_DEFAULT_MODEL " (openai)"},              \
        {.name = "EMBEDDING_DIMENSIONS",                                                                               \
         .type = CFG_INT,                                                                                              \
         .def = "0",                                                                                                   \
         .min = 0,                                                                                                     \
         .max = 2000,                                                                                                  \
         .help = "vector size; 0 = the model's default (256 local, 1536 openai)"},                                     \
        {.name = "OPENAI_API_KEY", .type = CFG_STR, .flags = CFG_SECRET, .help = "for EMBEDDING_PROVIDER=openai"},     \
    {                                                                                                                  \
        .name = "OPENAI_BASE_URL", .type = CFG_URL, .def = "https://api.openai.com/v1", .schemes = "http|https",       \
        .help = "OpenAI-compatible API base"                                                                           \
    }

/* The embedder options the EMBED_CONFIG_VARS rows of c describe. */
embed_opts embed_config_opts(const cfg *c);

#endif
