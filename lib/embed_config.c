/* embed_config.c: see embed_config.h. */
#include "embed_config.h"

embed_opts embed_config_opts(const cfg *c)
{
    embed_opts o = {.provider = cfg_str(c, "EMBEDDING_PROVIDER"),
                    .model = cfg_str(c, "EMBEDDING_MODEL"),
                    .dimensions = (unsigned)cfg_int(c, "EMBEDDING_DIMENSIONS"),
                    .api_key = cfg_str(c, "OPENAI_API_KEY"),
                    .base_url = cfg_str(c, "OPENAI_BASE_URL")};
    return o;
}
